/**
 * A copy of `s` that shares no memory with the string it was sliced from. V8 keeps slices of 13 or
 * more characters as views into their parent string, so a few-byte token sliced out of a 64 KiB
 * upstream read keeps the whole read alive for as long as the token lives; a fresh concatenation,
 * once sliced, is flattened into new memory of the token's own size.
 */
export function detachString(s: string): string {
  return s.length < 13 ? s : (' ' + s).slice(1);
}
