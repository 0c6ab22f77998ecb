/** A required environment variable of a delete-time script; its absence is a clear error. */
export function requiredEnv(env: NodeJS.ProcessEnv, name: string): string {
    const value = env[name];
    if (!value) throw new Error(`${name} is not set`);
    return value;
}
