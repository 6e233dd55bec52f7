/**
 * Fastify's route validators, compiled when a route first validates a request instead of
 * when the app is built, by one ajv per process.
 *
 * Fastify's default compiles every route's schemas with a new ajv for each instance while
 * it starts: about a tenth of a node's start-up, mostly for routes a given node may never
 * be asked for. Here each route part gets a stand-in that compiles its schema on its first
 * request (a few milliseconds, once per schema and process) and is the compiled validator
 * from then on. The validators are Fastify's own (`@fastify/ajv-compiler`, same ajv
 * options: coercion, defaults, additional properties removed), so what a request is
 * allowed and the errors it gets are unchanged.
 *
 * Guarantees: a schema is compiled at most once per process for the instances that share
 * these options (ajv caches compiled schemas by object); a schema that does not compile
 * fails the request it was first needed for with a 500 (a server bug, found by the test
 * that compiles every route's schemas through `compilePendingValidators`).
 */
import { createRequire } from 'node:module';
import type { FastifyServerOptions } from 'fastify';

/** What Fastify passes a validator compiler: one part (body, params, …) of one route. */
interface RouteSchemaPart {
  readonly schema: unknown;
  readonly method: string;
  readonly url: string;
  readonly httpPart?: string;
}

/** A validator as Fastify calls it: true or false (or a promise of it), and its `errors` after a failure. */
type Validator = ((data: unknown) => unknown) & { errors?: unknown };
type CompileRoutePart = (part: RouteSchemaPart) => Validator;
type BuildValidator = (externalSchemas: unknown, options: unknown) => CompileRoutePart;
type FastifyBuildValidator = NonNullable<NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>['buildValidator']>;

/**
 * The process's validator pool, one ajv per distinct set of external schemas and options;
 * loaded with the first compilation (ajv and its formats are a fair part of a start-up).
 */
let sharedPool: BuildValidator | null = null;
const poolOf = (): BuildValidator => {
  sharedPool ??= (createRequire(import.meta.url)('@fastify/ajv-compiler') as typeof import('@fastify/ajv-compiler')).AjvCompiler() as unknown as BuildValidator;
  return sharedPool;
};

/**
 * Validators made but not compiled yet (compilePendingValidators): at most one entry per
 * route schema part of the apps built in this process, each gone once compiled.
 */
const pending = new Set<() => Validator>();

const buildLazyValidators: BuildValidator = (externalSchemas, options) => {
  // The ajv behind it is made on the first compilation too.
  let compileNow: CompileRoutePart | null = null;
  return (part) => {
    let compiled: Validator | null = null;
    const compile = (): Validator => {
      if (compiled === null) {
        compileNow ??= poolOf()(externalSchemas, options);
        compiled = compileNow(part);
        pending.delete(compile);
      }
      return compiled;
    };
    pending.add(compile);
    const validate: Validator = (data) => {
      const real = compile();
      const result = real(data);
      // Fastify reads a failed validation's errors off the function it was given.
      validate.errors = real.errors;
      return result;
    };
    return validate;
  };
};

/**
 * For `schemaController.compilersFactory.buildValidator`: Fastify's validators, compiled on
 * first use. (Fastify's declared type for it is ajv's `compile`; what it passes at run
 * time is `{ schema, method, url, httpPart }`, as typed above.)
 */
export const lazyRouteValidators = buildLazyValidators as unknown as FastifyBuildValidator;

/** Compiles every validator made so far that has not been used yet; throws what a schema's compilation throws. */
export function compilePendingValidators(): number {
  let count = 0;
  for (const compile of [...pending]) {
    compile();
    count++;
  }
  return count;
}
