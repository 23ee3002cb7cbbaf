// The official TypeScript SDK client against a real `walletmcp serve --dev`
// over stdio. Run by interop_test.go (`go test ./interop`), which builds the
// binary, prepares the dev home and sets WALLETMCP_BIN and WALLETMCP_HOME.
//
// The SDK's callTool validates every structured result against the tool's
// outputSchema from listTools; a counting wrapper around its own validator
// proves that it did, call by call.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';

const bin = process.env.WALLETMCP_BIN;
const home = process.env.WALLETMCP_HOME;
// Set: go through `walletmcp connect ADDR --token-file F` to a `serve --http`
// daemon (bridge_test.go) instead of launching `serve --dev`.
const connect = process.env.WALLETMCP_CONNECT;
const tokenFile = process.env.WALLETMCP_TOKEN_FILE;
const RECIPIENT = '0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf';
const TOOLS = ['create_offline_request', 'get_approval', 'get_balance', 'get_policy', 'get_transaction', 'list_accounts', 'prepare_transfer', 'send_transfer', 'submit_offline_signature'];

/** Wraps the SDK's default validator and counts what it compiles and checks. */
class CountingValidator {
  constructor() {
    this.inner = new AjvJsonSchemaValidator();
    this.compiled = 0;
    this.validated = 0;
  }
  getValidator(schema) {
    this.compiled++;
    const v = this.inner.getValidator(schema);
    return (input) => {
      this.validated++;
      return v(input);
    };
  }
}

let client;
let validator;
let stderr = '';
let from;

before(async () => {
  assert.ok(bin && (home || (connect && tokenFile)), 'WALLETMCP_BIN and WALLETMCP_HOME (or WALLETMCP_CONNECT and WALLETMCP_TOKEN_FILE) must be set (run go test ./interop)');
  validator = new CountingValidator();
  client = new Client({ name: 'walletmcp-interop', version: '1.0.0' }, { jsonSchemaValidator: validator });
  const args = connect ? ['connect', connect, '--token-file', tokenFile] : ['serve', '--dev', '--home', home];
  const transport = new StdioClientTransport({ command: bin, args, stderr: 'pipe' });
  transport.stderr?.on('data', (d) => { stderr += d; });
  try {
    await client.connect(transport);
  } catch (err) {
    throw new Error(`connect: ${err.message}\nserver stderr:\n${stderr}`);
  }
});

after(async () => {
  await client?.close();
});

function text(res) {
  return res.content.filter((c) => c.type === 'text').map((c) => c.text).join('');
}

/** Calls a tool that must succeed; checks the SDK validated its structured result. */
async function ok(name, args) {
  const before = validator.validated;
  const res = await client.callTool({ name, arguments: args });
  assert.ok(!res.isError, `${name}: unexpected tool error: ${text(res)}`);
  assert.equal(validator.validated, before + 1, `${name}: the SDK did not validate the structured result`);
  assert.equal(typeof res.structuredContent, 'object');
  assert.match(text(res), /^[^\n]+$/, `${name}: the text is one line`);
  return res.structuredContent;
}

/** Calls a tool that must fail with a tool error starting with code. */
async function fails(name, args, code) {
  const res = await client.callTool({ name, arguments: args });
  assert.equal(res.isError, true, `${name}: want ${code}, got success: ${text(res)}`);
  assert.ok(text(res).startsWith(code + ': '), `${name}: want ${code}, got ${text(res)}`);
  assert.equal(res.structuredContent, undefined);
  return text(res);
}

/** Lists every place in a schema whose type is not one non-null string. */
function typeLists(schema, where, out = []) {
  if ('type' in schema && (typeof schema.type !== 'string' || schema.type === 'null')) {
    out.push(`${where}: type ${JSON.stringify(schema.type)}`);
  }
  for (const [name, sub] of Object.entries(schema.properties ?? {})) typeLists(sub, `${where}.${name}`, out);
  if (schema.items && typeof schema.items === 'object') typeLists(schema.items, `${where}[]`, out);
  for (const k of ['anyOf', 'oneOf', 'allOf']) (schema[k] ?? []).forEach((s, i) => typeLists(s, `${where}.${k}[${i}]`, out));
  return out;
}

test('tools/list: every tool, each with plain object schemas', async () => {
  const { tools } = await client.listTools();
  assert.deepEqual(tools.map((t) => t.name).sort(), TOOLS);
  for (const t of tools) {
    assert.equal(t.inputSchema.type, 'object', `${t.name}.inputSchema`);
    assert.equal(t.outputSchema?.type, 'object', `${t.name}.outputSchema`);
    assert.deepEqual([...typeLists(t.inputSchema, `${t.name}.inputSchema`), ...typeLists(t.outputSchema, `${t.name}.outputSchema`)], []);
    assert.ok(t.annotations && t.description, `${t.name}: annotations and a description`);
  }
  assert.equal(validator.compiled, TOOLS.length, 'the SDK compiled one output validator per tool');
  // The schemas constrain: a result that is null or empty would be refused.
  const balance = new AjvJsonSchemaValidator().getValidator(tools.find((t) => t.name === 'get_balance').outputSchema);
  assert.equal(balance(null).valid, false);
  assert.equal(balance({}).valid, false);
});

test('read tools', async () => {
  const accts = await ok('list_accounts', {});
  assert.equal(accts.chain_id, 1337);
  assert.equal(accts.accounts.length, 1);
  from = accts.accounts[0].address;
  const bal = await ok('get_balance', { address: from });
  assert.equal(bal.balance, '100');
  assert.equal(bal.asset.symbol, 'ETH');
  const pol = await ok('get_policy', {});
  assert.match(pol.policy_sha256, /^[0-9a-f]{64}$/);
  assert.ok(Array.isArray(pol.recipients.allow));
  await ok('get_policy', { address: from });
  const small = await ok('prepare_transfer', { from, to: RECIPIENT, amount: '0.01' });
  assert.equal(small.verdict, 'allow');
  const big = await ok('prepare_transfer', { from, to: RECIPIENT, amount: '1' });
  assert.equal(big.verdict, 'approval_required');
  assert.equal(big.summary.to_tail, RECIPIENT.slice(-6));
  const tx = await ok('get_transaction', { tx_hash: '0x' + 'ab'.repeat(32) });
  assert.equal(tx.status, 'not_found');
});

test('send_transfer: a small transfer is submitted and mined', async () => {
  assert.ok(from, 'list_accounts gave no account (see the tests above)');
  const sent = await ok('send_transfer', { from, to: RECIPIENT, amount: '0.01', idempotency_key: 'interop-1' });
  assert.equal(sent.status, 'submitted', JSON.stringify(sent));
  assert.match(sent.tx_hash, /^0x[0-9a-f]{64}$/);
  const deadline = Date.now() + 30_000;
  let st;
  do {
    st = await ok('get_transaction', { tx_hash: sent.tx_hash });
    if (st.status !== 'success') await new Promise((r) => setTimeout(r, 100));
  } while (st.status === 'pending' && Date.now() < deadline);
  assert.equal(st.status, 'success');
  assert.ok(st.block_number > 0);
  const again = await ok('send_transfer', { from, to: RECIPIENT, amount: '0.01', idempotency_key: 'interop-1' });
  assert.equal(again.tx_hash, sent.tx_hash, 'the same idempotency_key sends nothing new');
  assert.equal((await ok('get_balance', { address: RECIPIENT })).balance, '0.01');
});

test('send_transfer above auto_approve_max waits for a human', async () => {
  assert.ok(from, 'list_accounts gave no account (see the tests above)');
  const sent = await ok('send_transfer', { from, to: RECIPIENT, amount: '1' });
  assert.equal(sent.status, 'approval_required', JSON.stringify(sent));
  assert.ok(sent.approval_id);
  assert.match(sent.approval_url, /^http:\/\/127\.0\.0\.1:\d+\//);
  assert.ok(!Number.isNaN(Date.parse(sent.expires_at)));
  const ap = await ok('get_approval', { approval_id: sent.approval_id });
  assert.equal(ap.status, 'pending');
  assert.equal(ap.summary.amount, '1');
});

test('refused and invalid calls are tool errors with a code', async () => {
  assert.ok(from, 'list_accounts gave no account (see the tests above)');
  await fails('send_transfer', { from, to: RECIPIENT, amount: '6' }, 'policy_denied');
  await fails('get_balance', { address: '0x12' }, 'invalid_argument');
  await fails('get_balance', { address: from, extra: '1' }, 'invalid_argument');
  await fails('get_approval', { approval_id: 'no-such-approval' }, 'not_found');
});
