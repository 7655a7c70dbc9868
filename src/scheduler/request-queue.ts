/**
 * The waiting line of one dynamic batcher: requests ordered by priority level (lower first) and by
 * arrival within a level, and at the same time grouped by shape key so the batcher can find the
 * next request that may share a batch with the head without scanning past requests of other
 * shapes. Entries carry their own links (an intrusive list), so pushing, removing any entry
 * (dispatch, timeout, cancellation) and stepping to the next compatible entry are O(1) and
 * allocate nothing per request. Each level also sums the batch items its entries carry, so
 * admission control can ask how much work is queued ahead of a new request.
 */

/** Per-level list of the entries that share one shape key, in arrival order. */
class KeyList {
  first: QueueEntry | null = null;
  last: QueueEntry | null = null;
}

/** One priority level: all its entries in arrival order, plus one KeyList per shape key. */
class PriorityLevel {
  first: QueueEntry | null = null;
  last: QueueEntry | null = null;
  count = 0;
  /** Sum of the entries' `items`. */
  items = 0;
  /** Next level with a larger priority number (runs later). */
  next: PriorityLevel | null = null;
  readonly byKey = new Map<string, KeyList>();

  constructor(readonly priority: number) {}
}

/**
 * Empty key lists are kept for reuse so steady traffic of a few shapes does not allocate; past
 * this many lists in one level, emptied ones are dropped so that models with many distinct shapes
 * (variable-length inputs) do not accumulate them without bound.
 */
const KEPT_KEY_LISTS = 16;

/**
 * Priorities come from callers, so their number is not bounded by configuration; past this many
 * levels, a level that empties is dropped again.
 */
const KEPT_LEVELS = 8;

/** Base of anything the queue holds; the link fields belong to RequestQueue and nothing else. */
export class QueueEntry {
  /** Lower runs first. Fixed while the entry is queued. */
  priority = 0;
  /** Entries with equal keys may share a batch. Fixed while the entry is queued. */
  key = '';
  /** Batch items the entry carries (its share of the work). Fixed while the entry is queued. */
  items = 1;
  levelPrev: QueueEntry | null = null;
  levelNext: QueueEntry | null = null;
  keyPrev: QueueEntry | null = null;
  keyNext: QueueEntry | null = null;
  level: PriorityLevel | null = null;
  keyList: KeyList | null = null;

  /** True while the entry waits in a queue. */
  get queued(): boolean {
    return this.level !== null;
  }
}

export class RequestQueue<T extends QueueEntry> {
  /** Levels sorted by ascending priority; priorities in use are few, so a linked list suffices. */
  #levels: PriorityLevel | null = null;
  #levelCount = 0;
  #size = 0;
  #items = 0;

  get size(): number {
    return this.#size;
  }

  /** Sum of `items` over every queued entry. */
  get items(): number {
    return this.#items;
  }

  /**
   * Items that run before a new entry of this priority would: those of its own level (it would
   * queue behind them) and of every level with a lower number.
   */
  itemsAhead(priority: number): number {
    let items = 0;
    for (let level = this.#levels; level !== null && level.priority <= priority; level = level.next) items += level.items;
    return items;
  }

  push(entry: T): void {
    const level = this.#level(entry.priority);
    let list = level.byKey.get(entry.key);
    if (list === undefined) {
      list = new KeyList();
      level.byKey.set(entry.key, list);
    }
    entry.level = level;
    entry.keyList = list;
    entry.levelPrev = level.last;
    entry.levelNext = null;
    if (level.last) level.last.levelNext = entry;
    else level.first = entry;
    level.last = entry;
    entry.keyPrev = list.last;
    entry.keyNext = null;
    if (list.last) list.last.keyNext = entry;
    else list.first = entry;
    list.last = entry;
    level.count++;
    level.items += entry.items;
    this.#size++;
    this.#items += entry.items;
  }

  /** Takes the entry out of the queue; false when it was not queued (already dispatched or removed). */
  remove(entry: T): boolean {
    const level = entry.level;
    const list = entry.keyList;
    if (level === null || list === null) return false;
    if (entry.levelPrev) entry.levelPrev.levelNext = entry.levelNext;
    else level.first = entry.levelNext;
    if (entry.levelNext) entry.levelNext.levelPrev = entry.levelPrev;
    else level.last = entry.levelPrev;
    if (entry.keyPrev) entry.keyPrev.keyNext = entry.keyNext;
    else list.first = entry.keyNext;
    if (entry.keyNext) entry.keyNext.keyPrev = entry.keyPrev;
    else list.last = entry.keyPrev;
    if (list.first === null && level.byKey.size > KEPT_KEY_LISTS) level.byKey.delete(entry.key);
    entry.level = null;
    entry.keyList = null;
    entry.levelPrev = entry.levelNext = entry.keyPrev = entry.keyNext = null;
    level.count--;
    level.items -= entry.items;
    this.#size--;
    this.#items -= entry.items;
    if (level.count === 0 && this.#levelCount > KEPT_LEVELS) this.#dropLevel(level);
    return true;
  }

  /** The entry that runs next: the oldest of the lowest non-empty priority level. */
  head(): T | null {
    for (let level = this.#levels; level !== null; level = level.next) {
      if (level.first !== null) return level.first as T;
    }
    return null;
  }

  /**
   * The next queued entry after `entry` with the same key: later arrivals of its level first,
   * then the same key's entries of the following (lower-priority) levels.
   */
  nextCompatible(entry: T): T | null {
    if (entry.keyNext !== null) return entry.keyNext as T;
    const level = entry.level;
    if (level === null) return null;
    for (let next = level.next; next !== null; next = next.next) {
      const list = next.byKey.get(entry.key);
      if (list !== undefined && list.first !== null) return list.first as T;
    }
    return null;
  }

  #level(priority: number): PriorityLevel {
    let previous: PriorityLevel | null = null;
    let level = this.#levels;
    while (level !== null && level.priority < priority) {
      previous = level;
      level = level.next;
    }
    if (level !== null && level.priority === priority) return level;
    const created = new PriorityLevel(priority);
    created.next = level;
    if (previous) previous.next = created;
    else this.#levels = created;
    this.#levelCount++;
    return created;
  }

  #dropLevel(level: PriorityLevel): void {
    let previous: PriorityLevel | null = null;
    for (let current = this.#levels; current !== null; previous = current, current = current.next) {
      if (current !== level) continue;
      if (previous) previous.next = level.next;
      else this.#levels = level.next;
      this.#levelCount--;
      return;
    }
  }
}
