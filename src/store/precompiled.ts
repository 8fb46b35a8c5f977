// A query whose SQL never changes, built and compiled once and then run with one parameter
// swapped in: the credential lookups of every cache miss. Kysely would build and compile the
// same query again on each call (about 20 µs here, the largest share of a miss's JavaScript
// after the socket writes); the compiled text is the dialect's own, placeholders and all.
import type { Compilable, CompiledQuery, QueryResult } from 'kysely';

/** What runs a compiled query: a Kysely instance, whatever its tables. */
interface QueryRunner {
  executeQuery<R>(query: CompiledQuery<R>): Promise<QueryResult<R>>;
}

/** Stands in for the parameter while compiling, to find where it lands among the parameters. */
const PLACEHOLDER = '\u0000latchkey:parameter\u0000';

export class PrecompiledQuery<Row> {
  private compiled: CompiledQuery<Row> | undefined;
  private position = -1;

  /** `build` makes the query with its one varying value (it is given a placeholder). */
  constructor(private readonly build: (value: never) => Compilable<Row>) {}

  /** The first row for `value`, or undefined. */
  async first(db: QueryRunner, value: string | number): Promise<Row | undefined> {
    const { rows } = await db.executeQuery(this.with(value));
    return rows[0];
  }

  private with(value: string | number): CompiledQuery<Row> {
    if (!this.compiled) {
      this.compiled = this.build(PLACEHOLDER as never).compile();
      this.position = this.compiled.parameters.indexOf(PLACEHOLDER);
      if (this.position < 0 || this.compiled.parameters.lastIndexOf(PLACEHOLDER) !== this.position) {
        throw new Error('a precompiled query must use its value exactly once');
      }
    }
    const parameters = [...this.compiled.parameters];
    parameters[this.position] = value;
    return { ...this.compiled, parameters };
  }
}
