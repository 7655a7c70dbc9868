/**
 * Reads NumPy .npy files (format versions 1–3, little-endian, C order) into a datatype, shape and
 * raw bytes, so `modelport infer` can send arrays saved with numpy.save unchanged.
 */
const DTYPES: Record<string, string> = {
  '|b1': 'BOOL', '|u1': 'UINT8', '<u2': 'UINT16', '<u4': 'UINT32', '<u8': 'UINT64',
  '|i1': 'INT8', '<i2': 'INT16', '<i4': 'INT32', '<i8': 'INT64',
  '<f2': 'FP16', '<f4': 'FP32', '<f8': 'FP64',
};

export interface NpyArray {
  datatype: string;
  shape: number[];
  data: Buffer;
}

export function parseNpy(file: Buffer, label = 'array'): NpyArray {
  if (file.length < 10 || file.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${label} is not a .npy file (bad magic)`);
  const major = file[6]!;
  const headerLength = major === 1 ? file.readUInt16LE(8) : file.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = file.toString(major === 3 ? 'utf8' : 'latin1', start, start + headerLength);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw new Error(`${label}: unreadable .npy header ${JSON.stringify(header)}`);
  if (fortran === 'True') throw new Error(`${label}: Fortran-ordered arrays are not supported; save with np.ascontiguousarray`);
  const datatype = DTYPES[descr.replace(/^=/, '<')];
  if (!datatype) throw new Error(`${label}: dtype '${descr}' is not supported (expected one of ${Object.keys(DTYPES).join(', ')})`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  return { datatype, shape, data: file.subarray(start + headerLength) };
}
