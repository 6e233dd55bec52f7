// Types of validate-config.generated.js (written by `npm run gen:config-validator`).
import type { ErrorObject } from 'ajv';

/** ajv's validate function for the config schema: fills defaults in place; `errors` after a failure. */
export declare const validate: ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };
export default validate;
