// The policy pack itself (PulumiPolicy.yaml runs it through index.js): `pulumi preview
// --policy-pack policy`, with any backend. The policies are in policies.ts.
import { PolicyPack } from "@pulumi/policy";
import { policies } from "./policies";

new PolicyPack("rails-stack", { policies });
