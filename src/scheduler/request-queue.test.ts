/**
 * Tests of the batcher's request queue: priority then arrival order, removal from anywhere,
 * stepping through entries of one shape key across priority levels, and that levels and key
 * lists created by passing traffic do not pile up.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QueueEntry, RequestQueue } from './request-queue.js';

class Item extends QueueEntry {
  constructor(
    readonly id: string,
    key = 'a',
    priority = 0,
  ) {
    super();
    this.key = key;
    this.priority = priority;
  }
}

function drainOrder(queue: RequestQueue<Item>): string[] {
  const order: string[] = [];
  for (let head = queue.head(); head !== null; head = queue.head()) {
    order.push(head.id);
    queue.remove(head);
  }
  return order;
}

function compatibleFrom(queue: RequestQueue<Item>, start: Item): string[] {
  const ids: string[] = [];
  for (let item: Item | null = start; item !== null; item = queue.nextCompatible(item)) ids.push(item.id);
  return ids;
}

describe('RequestQueue', () => {
  it('serves lower priority numbers first and arrival order within a level', () => {
    const queue = new RequestQueue<Item>();
    const items = [new Item('p2a', 'a', 2), new Item('p0a', 'a', 0), new Item('p1a', 'b', 1), new Item('p0b', 'b', 0), new Item('p2b', 'a', 2), new Item('neg', 'a', -1)];
    for (const item of items) queue.push(item);
    assert.equal(queue.size, 6);
    assert.deepEqual(drainOrder(queue), ['neg', 'p0a', 'p0b', 'p1a', 'p2a', 'p2b']);
    assert.equal(queue.size, 0);
    assert.equal(queue.head(), null);
  });

  it('walks entries of the head’s key past other keys and into later levels', () => {
    const queue = new RequestQueue<Item>();
    const a1 = new Item('a1', 'a');
    for (const item of [a1, new Item('b1', 'b'), new Item('a2', 'a'), new Item('a3', 'a', 5), new Item('b2', 'b', 5), new Item('a4', 'a', 9)]) {
      queue.push(item);
    }
    assert.deepEqual(compatibleFrom(queue, a1), ['a1', 'a2', 'a3', 'a4']);
  });

  it('removes entries from the middle, the ends, and ignores entries not queued', () => {
    const queue = new RequestQueue<Item>();
    const [x, y, z] = [new Item('x'), new Item('y'), new Item('z')];
    queue.push(x);
    queue.push(y);
    queue.push(z);
    assert.equal(y.queued, true);
    assert.equal(queue.remove(y), true);
    assert.equal(y.queued, false);
    assert.equal(queue.remove(y), false, 'a second removal is a no-op');
    assert.deepEqual(compatibleFrom(queue, x), ['x', 'z']);
    assert.equal(queue.remove(z), true);
    assert.equal(queue.remove(x), true);
    assert.equal(queue.size, 0);
    queue.push(y);
    assert.equal(queue.head(), y, 'a removed entry can be queued again');
  });

  it('keeps working when many distinct priorities and keys come and go', () => {
    const queue = new RequestQueue<Item>();
    for (let i = 0; i < 200; i++) {
      const item = new Item(`i${i}`, `k${i}`, i);
      queue.push(item);
      const other = new Item(`o${i}`, `k${i}`, 1000 - i);
      queue.push(other);
      assert.equal(queue.head(), item.priority < other.priority ? item : other);
      queue.remove(item);
      queue.remove(other);
    }
    assert.equal(queue.size, 0);
    const order = [new Item('late', 'k', 7), new Item('early', 'k', 3)];
    for (const item of order) queue.push(item);
    assert.deepEqual(drainOrder(queue), ['early', 'late']);
  });
  it('sums the items queued at and ahead of a priority as entries come and go', () => {
    const queue = new RequestQueue<Item>();
    const weigh = (item: Item, items: number): Item => {
      item.items = items;
      return item;
    };
    const online = weigh(new Item('online', 'a', 0), 4);
    const urgent = weigh(new Item('urgent', 'b', -1), 2);
    const batch = weigh(new Item('batch', 'a', 9), 100);
    for (const item of [online, urgent, batch]) queue.push(item);
    assert.equal(queue.items, 106);
    assert.equal(queue.itemsAhead(-2), 0, 'nothing runs before the most urgent level');
    assert.equal(queue.itemsAhead(-1), 2);
    assert.equal(queue.itemsAhead(0), 6, 'its own level counts: a new entry queues behind it');
    assert.equal(queue.itemsAhead(5), 6, 'a level between others sees only the ones before it');
    assert.equal(queue.itemsAhead(9), 106);
    queue.remove(online);
    assert.equal(queue.itemsAhead(0), 2);
    queue.remove(urgent);
    queue.remove(batch);
    assert.equal(queue.items, 0);
    assert.equal(queue.itemsAhead(Number.MAX_SAFE_INTEGER), 0);
  });
});
