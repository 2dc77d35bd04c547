// JSON that keeps 64-bit seeds exact: JavaScript numbers lose integers above 2**53, and
// diffstream seeds go up to 2**63 - 1. Large integers are parsed as BigInt and written back
// digit for digit.

/** Parse JSON text; integers beyond Number.MAX_SAFE_INTEGER become BigInt. */
export function parse(text) {
  return JSON.parse(text, (_key, value, context) => {
    if (typeof value === "number" && Number.isInteger(value) && !Number.isSafeInteger(value)
        && context && /^-?\d+$/.test(context.source)) {
      return BigInt(context.source);
    }
    return value;
  });
}

/** Serialise to JSON text; BigInt values are written as plain JSON integers. */
export function stringify(value, space) {
  const marks = [];
  const text = JSON.stringify(value, (_key, item) => {
    if (typeof item !== "bigint") return item;
    if (typeof JSON.rawJSON === "function") return JSON.rawJSON(item.toString());
    marks.push(item.toString());
    return `\u0000bigint${marks.length - 1}\u0000`;
  }, space);
  return marks.length === 0 ? text : text.replace(/"\\u0000bigint(\d+)\\u0000"/g, (_m, i) => marks[+i]);
}
