/** KEY='value' lines for a file a shell script sources; a value that could break out of its quotes is refused. */
export function shellEnv(values: Readonly<Record<string, string>>): string {
    return Object.entries(values)
        .map(([key, value]) => {
            if (/['\n]/.test(value)) throw new Error(`${key}: ${JSON.stringify(value)} cannot go into a shell env file`);
            return `${key}='${value}'\n`;
        })
        .join("");
}
