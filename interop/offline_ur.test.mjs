// Interoperability of walletmcp's EIP-4527 codec (signer/offline) with
// Keystone's own registry library, run by offline_ur_test.go under Node's
// test runner. For each request the Go test made (single- and multi-part
// ur:eth-sign-request), it decodes the parts with @ngraveio/bc-ur's
// URDecoder (any order, either case) and the CBOR with
// @keystonehq/bc-ur-registry-eth's EthSignRequest, checks every field
// against what Go says it put in, signs keccak256(sign-data) with
// @noble/curves, and builds the ur:eth-signature with the registry's
// ETHSignature. The signatures go back to Go (WALLETMCP_OFFLINE_OUT), which
// must accept them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { URDecoder } = require("@ngraveio/bc-ur");
const { EthSignRequest, ETHSignature, DataType } = require("@keystonehq/bc-ur-registry-eth");
const { RLP } = require("@ethereumjs/rlp");
const { secp256k1 } = require("@noble/curves/secp256k1");
const { keccak_256 } = require("@noble/hashes/sha3");

const fixture = JSON.parse(readFileSync(process.env.WALLETMCP_OFFLINE_FIXTURE, "utf8"));
const hex = (b) => Buffer.from(b).toString("hex");
const num = (b) => (b.length === 0 ? 0n : BigInt("0x" + hex(b)));
const results = [];

function decode(parts) {
  const d = new URDecoder();
  for (const p of parts) {
    d.receivePart(p);
  }
  assert.ok(d.isComplete(), "decoder complete");
  assert.ok(d.isSuccess(), "decoder success: " + (d.isSuccess() ? "" : d.resultError()));
  const ur = d.resultUR();
  assert.equal(ur.type, "eth-sign-request");
  return EthSignRequest.fromCBOR(ur.cbor);
}

for (const c of fixture.cases) {
  test(c.name, () => {
    const orders = [c.parts, [...c.parts].reverse(), c.parts.map((p) => p.toUpperCase())];
    let req;
    for (const parts of orders) {
      req = decode(parts);
      assert.equal(hex(req.getSignData()), c.sign_data);
    }
    assert.equal(c.parts.length > 1, c.multi_part, "part count");
    assert.equal(hex(req.getRequestId()), c.request_id);
    assert.equal(req.getDataType(), DataType.typedTransaction);
    assert.equal(req.getChainId(), c.chain_id);
    assert.equal(req.getDerivationPath(), c.path);
    const xfp = req.getSourceFingerprint();
    assert.equal(xfp ? hex(xfp) : "", c.xfp);
    assert.equal(hex(req.getSignRequestAddress()), c.address);
    assert.equal(req.getOrigin(), "walletmcp");

    // sign-data is 0x02 ‖ RLP([chainId, nonce, tip, maxFee, gas, to, value, data, accessList]).
    const sd = req.getSignData();
    assert.equal(sd[0], 2);
    const f = RLP.decode(sd.subarray(1));
    assert.equal(f.length, 9);
    assert.equal(num(f[0]), BigInt(c.chain_id));
    assert.equal(num(f[1]), BigInt(c.tx.nonce));
    assert.equal(num(f[2]), BigInt(c.tx.tip));
    assert.equal(num(f[3]), BigInt(c.tx.max_fee));
    assert.equal(num(f[4]), BigInt(c.tx.gas));
    assert.equal(hex(f[5]), c.tx.to);
    assert.equal(num(f[6]), BigInt(c.tx.value));
    assert.equal(hex(f[7]), c.tx.data);
    assert.deepEqual(f[8], []);

    const sig = secp256k1.sign(keccak_256(sd), fixture.private_key);
    const rsv = Buffer.concat([
      Buffer.from(sig.r.toString(16).padStart(64, "0"), "hex"),
      Buffer.from(sig.s.toString(16).padStart(64, "0"), "hex"),
      Buffer.from([sig.recovery]),
    ]);
    const ethSig = new ETHSignature(rsv, req.getRequestId(), "keystone-registry");
    results.push({ name: c.name, signature: ethSig.toUREncoder(1000).nextPart() });
  });
}

test("write the signatures", () => {
  assert.equal(results.length, fixture.cases.length);
  writeFileSync(process.env.WALLETMCP_OFFLINE_OUT, JSON.stringify({ results }));
});
