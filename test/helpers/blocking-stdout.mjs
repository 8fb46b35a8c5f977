// Preloaded into every test file's process (package.json "test"; plain JavaScript, because
// worker threads inherit the preload without tsx). With --test-force-exit, each file's process
// exits as soon as its last test ends, and its report travels to the runner over stdout, a pipe,
// which Node writes asynchronously on Linux: the exit cut off the last results, and the run still
// passed with tests missing from its count (nodejs/node#64833, seen here). Blocking writes are
// complete before the exit.
process.stdout._handle?.setBlocking?.(true);
