/**
 * A helper thread for ParquetSource (see parquet-decode-pool.ts): opens the same file and decodes
 * the columns it is asked for over a row range, posting back each column's values with their
 * buffers moved, not copied. It keeps nothing between requests (a scan made per request holds no
 * cache), so what it hands over is never used here again.
 */
import { parquetScan, type DecodedArray } from 'hyparquet';
import { parentPort, workerData } from 'node:worker_threads';
import { openParquetFile, type ParquetFile } from './parquet-file.js';
import { snappyDecompress } from './snappy.js';

export interface DecodeRequest {
  id: number;
  columns: string[];
  rowStart: number;
  rowEnd: number;
}

export type DecodeReply = { id: number; ok: true; columns: DecodedArray[] } | { id: number; ok: false; message: string };

const port = parentPort!;
const path = (workerData as { path: string }).path;
let file: Promise<ParquetFile> | undefined;

port.on('message', (request: DecodeRequest) => {
  void decode(request).then(
    ({ columns, transfer }) => port.postMessage({ id: request.id, ok: true, columns } satisfies DecodeReply, transfer),
    (error: unknown) => port.postMessage({ id: request.id, ok: false, message: error instanceof Error ? error.message : String(error) } satisfies DecodeReply),
  );
});

async function decode(request: DecodeRequest): Promise<{ columns: DecodedArray[]; transfer: ArrayBuffer[] }> {
  const opened = await (file ??= openParquetFile(path));
  const scan = await parquetScan({ file: opened.buffer, metadata: opened.metadata, useOffsetIndex: true, compressors: { SNAPPY: snappyDecompress } });
  const columns: DecodedArray[] = [];
  const transfer = new Set<ArrayBuffer>();
  for (const column of request.columns) {
    const values = await scan.readColumn({ column, rowStart: request.rowStart, rowEnd: request.rowEnd });
    columns.push(values);
    if (!Array.isArray(values) && values.buffer instanceof ArrayBuffer) transfer.add(values.buffer);
  }
  return { columns, transfer: [...transfer] };
}
