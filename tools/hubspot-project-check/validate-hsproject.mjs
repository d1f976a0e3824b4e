#!/usr/bin/env node
// Offline validation of a HubSpot developer-platform project (hsproject.json + src/**/*-hsmeta.json)
// using HubSpot's own parser/validator, @hubspot/project-parsing-lib.
//
// Why this shim exists: project-parsing-lib's translate() runs the full validation pipeline
// (hsmeta discovery, JSON parsing, allowed top-level keys, uid rules, component directory rules,
// "feature needs an app component", singular-component duplicates, then AJV against per-component
// JSON Schemas). The ONLY networked step is getIntermediateRepresentationSchema(), which does
//   http.get(accountId, { url: `project-components-external/project-schemas/v3/${platformVersion}` })
// via @hubspot/local-dev-lib/http (authenticated with a HubSpot account). We replace that one call with
// a local JSON file of the same shape ({ APPLICATION: <schema>, WEBHOOKS: <schema>, ... }), and make every
// other HTTP method throw, so the run is provably offline.
//
// Usage: node validate-hsproject.mjs <projectDir> [--schemas <file>]
// Exit: 0 valid, 1 invalid, 2 usage/setup error.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { http } from '@hubspot/local-dev-lib/http';
import {
  parseProjectConfig,
  isKnownPlatformVersion,
  isLegacyProject,
  LATEST_SUPPORTED_PLATFORM_VERSION,
} from '@hubspot/project-parsing-lib/projects';
import { translate, isTranslationError } from '@hubspot/project-parsing-lib/translate';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const projectDir = args.find(a => !a.startsWith('--'));
const schemasIdx = args.indexOf('--schemas');
if (!projectDir) {
  console.error('usage: node validate-hsproject.mjs <projectDir> [--schemas <file>]');
  process.exit(2);
}

const problems = [];
let config;
try {
  config = parseProjectConfig(path.resolve(projectDir)); // name/srcDir/platformVersion present, srcDir inside project & exists
} catch (e) {
  console.error(`hsproject.json: ${e.message}`);
  process.exit(1);
}
const { platformVersion } = config;
if (!isKnownPlatformVersion(platformVersion)) {
  problems.push(`hsproject.json: unknown platformVersion '${platformVersion}' (latest supported by this library: ${LATEST_SUPPORTED_PLATFORM_VERSION})`);
} else if (isLegacyProject(platformVersion)) {
  problems.push(`hsproject.json: platformVersion '${platformVersion}' is a legacy (pre-2025.2) project`);
}
if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}

const schemasFile = schemasIdx >= 0
  ? path.resolve(args[schemasIdx + 1])
  : path.join(here, 'schemas', `hsmeta-schemas.${platformVersion}.json`);
if (!fs.existsSync(schemasFile)) {
  console.error(`no local component schemas for platformVersion ${platformVersion}: ${schemasFile}`);
  process.exit(2);
}
const schemas = JSON.parse(fs.readFileSync(schemasFile, 'utf8'));
delete schemas.$comment;

// Serve the schema request locally; forbid any other network use by the library.
const expectedUrl = `project-components-external/project-schemas/v3/${platformVersion}`;
http.get = async (_accountId, opts) => {
  if (opts?.url === expectedUrl) return { data: schemas };
  throw new Error(`offline validator: unexpected HTTP GET ${opts?.url}`);
};
for (const m of ['post', 'put', 'patch', 'delete', 'getOctetStream']) {
  http[m] = async (_a, opts) => { throw new Error(`offline validator: unexpected HTTP ${m} ${opts?.url}`); };
}

const projectSourceDir = path.resolve(projectDir, config.srcDir);
try {
  const { intermediateRepresentation, skippedHsMetaFiles } = await translate(
    { projectSourceDir, platformVersion, accountId: 1 /* dummy: required by the lib, never used */ },
    { skipValidation: false },
  );
  // The lib silently ignores *-hsmeta.json files outside the allowed component directories
  // (e.g. src/app/webhook/…); upload would drop them, so treat them as errors here.
  for (const f of skippedHsMetaFiles) problems.push(`${f}: *-hsmeta.json outside an allowed component directory (ignored by HubSpot)`);
  if (problems.length === 0) {
    const nodes = Object.values(intermediateRepresentation.intermediateNodesIndexedByUid);
    console.log(`OK ${config.name} (platformVersion ${platformVersion}): ` +
      nodes.map(n => `${n.componentType}:${n.uid} [${n.metaFilePath}]`).join(', '));
  }
} catch (e) {
  problems.push(isTranslationError(e) ? e.toString() : `${e.message}`);
}

if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
