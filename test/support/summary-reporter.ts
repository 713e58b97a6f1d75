import type { Reporter, TestModule } from 'vitest/node';

/**
 * Prints one plain `Tests: N passed, N failed, N skipped, N unhandled errors` line at the end, for
 * CI log readers that do not parse vitest's table. Unhandled errors fail the run even when every
 * test passed, so they are counted here too.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const mod of testModules) {
      for (const test of mod.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else skipped++;
      }
    }
    console.log(`\nTests: ${passed} passed, ${failed} failed, ${skipped} skipped, ${unhandledErrors.length} unhandled errors`);
  }
}
