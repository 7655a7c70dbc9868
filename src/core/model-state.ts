/**
 * Lifecycle of a model version, with Triton's state names so the repository index reads the same:
 * LOADING → READY → UNLOADING → UNAVAILABLE (a failed load goes straight to UNAVAILABLE with a reason).
 */
export type ModelState = 'UNKNOWN' | 'LOADING' | 'READY' | 'UNLOADING' | 'UNAVAILABLE';
