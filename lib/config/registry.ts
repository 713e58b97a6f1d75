/**
 * Config sections register here, one per file under `lib/config/sections/`, so other modules add
 * their settings without touching the loader. Sections are parsed in registration order and may read
 * sections parsed before them (routes check that their backends exist).
 */
import { ConfigReader, type ResolveContext } from './reader.js';
import type { AbiConfig } from './types.js';

export interface ConfigSection<T = unknown> {
  /**
   * A top-level key (`recovery`), or `parent.child` for an extension inside another section
   * (`auth.jwt`). Top-level sections are always parsed, with `{}` when absent, so their defaults
   * apply; an extension is parsed only when its key is present and is stored on the parent's object.
   */
  key: string;
  /** Reads and validates the section; an object section must call `reader.done()` so unknown keys are errors. */
  parse(input: SectionInput, parsedSoFar: Partial<AbiConfig>): T;
}

/** One section's raw value and how to read it. */
export class SectionInput {
  constructor(
    /** The raw JSON value (undefined when the key is absent). */
    readonly value: unknown,
    /** Dotted key of the section, for error messages. */
    readonly key: string,
    readonly ctx: ResolveContext,
  ) {}

  /** A strict reader over the section's object (`{}` when absent). */
  object(): ConfigReader {
    return new ConfigReader(this.value, this.key, this.ctx);
  }
}

const sections: ConfigSection[] = [];

export function registerConfigSection<T>(section: ConfigSection<T>): void {
  if (sections.some((s) => s.key === section.key)) throw new Error(`config section '${section.key}' is registered twice`);
  sections.push(section as ConfigSection);
}

export function configSections(): readonly ConfigSection[] {
  return sections;
}
