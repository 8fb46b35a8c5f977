// Express 4, installed as the npm alias `express4` to test the middleware on both majors; typed
// with Express 5's types, which cover the little the tests use.
declare module 'express4' {
  import express from 'express';
  export default express;
}
