// The collected problems of one validation run: one line per problem, never thrown.
import { PROJECT } from "./keys";

export class Problems {
    readonly errors: string[] = [];

    /** A problem of a project key: `rails-stack:<key>: <message>`. */
    add(key: string, message: string): void {
        this.addFull(`${PROJECT}:${key}`, message);
    }

    /** A problem of a key named in full, e.g. one of another namespace. */
    addFull(fullKey: string, message: string): void {
        this.errors.push(`${fullKey}: ${message}`);
    }
}
