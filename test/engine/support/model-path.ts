import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** stories260K, referenced in place (never copied into the project). */
export const storiesPath = fileURLToPath(new URL('../../../../shared/models/stories260K.gguf', import.meta.url));
const storiesSha256 = '270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d';

/** Why model tests must skip, or undefined when the verified file is present. */
export function storiesSkipReason(): string | undefined {
  if (!existsSync(storiesPath)) return `model absent: ${storiesPath}`;
  if (statSync(storiesPath).size !== 1_185_376) throw new Error(`${storiesPath}: unexpected size, not stories260K`);
  const digest = createHash('sha256').update(readFileSync(storiesPath)).digest('hex');
  if (digest !== storiesSha256) throw new Error(`${storiesPath}: sha256 ${digest} does not match stories260K`);
  return undefined;
}

/** Golden greedy ids after BOS from /work/shared/models/README.md (independent numpy forward pass). */
export const storiesGolden60 = [
  403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410, 408, 419,
  292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394, 261, 370, 432, 352, 266, 268, 388, 426, 338, 391,
  266, 267, 337, 335, 312, 432, 398, 312, 286, 267, 414, 270, 333, 415,
];

/** Step-0 top-5 logits after BOS from the same README. */
export const storiesTop5: Array<[number, number]> = [
  [403, 17.0235],
  [385, 15.4062],
  [410, 13.1083],
  [317, 12.7692],
  [407, 12.4181],
];
