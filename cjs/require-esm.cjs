// latchkey is an ES module; require() of it ends here with one line saying what to do instead.
throw new Error("latchkey is an ES module: use `import ... from 'latchkey'` (or `await import('latchkey')` from CommonJS)");
