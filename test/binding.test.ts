import { describe, expect, it } from 'vitest';
import { loadBinding } from '../lib/native/binding.js';

describe('native binding', () => {
  it('loads the addon built for Node-API 8', () => {
    expect(loadBinding().napiVersion).toBe(8);
  });
});
