// The app doctor: a pre-flight check of a Rails app against what the stack deploys, split by concern
// under deploy/doctor/ (files, environment, database.yml, Dockerfile and image, entrypoint,
// storage.yml and Gemfile.lock, Kamal's version, the registry). This module is its public face.
export type { AppFiles } from "./doctor/files";
export { checkApp } from "./doctor/check";
export type { DoctorExpectations } from "./doctor/check";
export { formatProblem } from "./doctor/report";
export type { DoctorProblem } from "./doctor/report";
