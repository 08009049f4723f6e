// Parse NumPy .npy files in the browser, so results and frames arrive as raw arrays and
// every display choice (colormap, log, contrast) is made here without asking the server.

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

// dtype descr (without byte order) -> typed array constructor
const TYPES = {
  f4: Float32Array, f8: Float64Array,
  i1: Int8Array, u1: Uint8Array, b1: Uint8Array,
  i2: Int16Array, u2: Uint16Array,
  i4: Int32Array, u4: Uint32Array,
  i8: BigInt64Array, u8: BigUint64Array,
};

/**
 * Parse an .npy file.
 * @param {ArrayBuffer} buffer
 * @returns {{shape: number[], dtype: string, values: Float32Array}} values in C order
 */
export function parseNpy(buffer) {
  const bytes = new Uint8Array(buffer);
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new Error("The server sent something that is not an .npy array.");
  }
  const major = bytes[6];
  const view = new DataView(buffer);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  const header = new TextDecoder("latin1").decode(bytes.subarray(headerStart, headerStart + headerLen));
  const { descr, fortran, shape } = parseHeader(header);
  const dataStart = headerStart + headerLen;
  const values = toFloat32(buffer, dataStart, descr, product(shape));
  return { shape, dtype: descr, values: fortran ? fortranToC(values, shape) : values };
}

/** The header is a Python dict literal; it is simple enough to read with three patterns. */
function parseHeader(header) {
  const descr = /'descr':\s*'([^']+)'/.exec(header);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shape) throw new Error(`Unreadable .npy header: ${header}`);
  const dims = shape[1].split(",").map((s) => s.trim()).filter((s) => s !== "").map(Number);
  return { descr: descr[1], fortran: fortran[1] === "True", shape: dims };
}

function product(shape) {
  return shape.reduce((a, b) => a * b, 1);
}

function toFloat32(buffer, offset, descr, count) {
  const order = descr[0];
  const kind = descr.slice(1);
  if (kind === "c8" || kind === "c16") return magnitudes(buffer, offset, order, kind, count);
  const Type = TYPES[kind];
  if (!Type) throw new Error(`Arrays of dtype ${descr} cannot be shown in the browser.`);
  const bigEndian = order === ">";
  const itemsize = Type.BYTES_PER_ELEMENT;
  if (bigEndian && itemsize > 1) return readBigEndian(buffer, offset, kind, count);
  // Typed arrays need aligned offsets; copy the data part when the header length is odd.
  const data = offset % itemsize === 0
    ? new Type(buffer, offset, count)
    : new Type(buffer.slice(offset, offset + count * itemsize));
  if (data instanceof Float32Array) return data;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = Number(data[i]);
  return out;
}

/** Complex values (radial Fourier coefficients) are shown as their magnitude. */
function magnitudes(buffer, offset, order, kind, count) {
  const parts = toFloat32(buffer, offset, `${order}${kind === "c8" ? "f4" : "f8"}`, 2 * count);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = Math.hypot(parts[2 * i], parts[2 * i + 1]);
  return out;
}

function readBigEndian(buffer, offset, kind, count) {
  const view = new DataView(buffer, offset);
  const getters = {
    f4: (i) => view.getFloat32(i * 4), f8: (i) => view.getFloat64(i * 8),
    i2: (i) => view.getInt16(i * 2), u2: (i) => view.getUint16(i * 2),
    i4: (i) => view.getInt32(i * 4), u4: (i) => view.getUint32(i * 4),
    i8: (i) => Number(view.getBigInt64(i * 8)), u8: (i) => Number(view.getBigUint64(i * 8)),
  };
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = getters[kind](i);
  return out;
}

function fortranToC(values, shape) {
  if (shape.length < 2) return values;
  const out = new Float32Array(values.length);
  const strides = shape.map((_, k) => product(shape.slice(0, k))); // Fortran strides
  const index = new Array(shape.length).fill(0);
  for (let c = 0; c < values.length; c++) {
    let f = 0;
    for (let k = 0; k < shape.length; k++) f += index[k] * strides[k];
    out[c] = values[f];
    for (let k = shape.length - 1; k >= 0; k--) {
      if (++index[k] < shape[k]) break;
      index[k] = 0;
    }
  }
  return out;
}

/** Fetch and parse an .npy URL; the error names the URL and the server's message. */
export async function fetchNpy(url, { signal } = {}) {
  const response = await fetch(url, { credentials: "same-origin", signal });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error || message; } catch { /* not JSON */ }
    throw new Error(`Could not load ${url}: ${message}`);
  }
  return parseNpy(await response.arrayBuffer());
}

/** Take channel ``k`` of the last axis of an (h, w, m) array as an (h, w) image. */
export function channel(array, k) {
  const [h, w, m] = array.shape;
  const out = new Float32Array(h * w);
  for (let i = 0; i < h * w; i++) out[i] = array.values[i * m + k];
  return { shape: [h, w], dtype: array.dtype, values: out };
}

/** Sum over the last axis of an (h, w, m) array (NaN where every channel is NaN). */
export function channelSum(array) {
  const [h, w, m] = array.shape;
  const out = new Float32Array(h * w);
  for (let i = 0; i < h * w; i++) {
    let s = 0;
    for (let k = 0; k < m; k++) s += array.values[i * m + k];
    out[i] = s;
  }
  return { shape: [h, w], dtype: array.dtype, values: out };
}
