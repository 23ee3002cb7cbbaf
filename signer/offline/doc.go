// Package offline implements offline (air-gapped) signing by QR code:
// EIP-4527's eth-sign-request and eth-signature carried as Uniform
// Resources (URs, BCR-2020-005) with bytewords (BCR-2020-012) and
// multi-part fountain codes, and the QR images that carry them.
//
// # API
//
// The UR layer:
//
//   - EncodeUR(type, cbor, maxFragmentLen) returns one part, or the
//     seqLen fragments of a multi-part UR; FountainEncoder makes further
//     (mixed) parts for an animated QR.
//   - URDecoder (NewURDecoder(limits)): Receive(part) in any order and
//     with repeats, Complete(), Progress(), Result() (type, cbor).
//     DecodeUR(type, parts, limits) does it in one call.
//   - BytewordsEncode/BytewordsDecode: minimal style with CRC-32.
//
// EIP-4527 (CBOR on fxamacker/cbor, deterministic encoding):
//
//   - SignRequest (eth-sign-request, tag 401): request-id (UUID, tag 37),
//     sign-data, data-type, chain-id, derivation-path (crypto-keypath,
//     tag 304, as KeyPath), address, origin. MarshalCBOR, UR,
//     ParseSignRequest, ParseSignRequestUR.
//   - NewTxSignRequest(tx, from, chainID, path, requestID) makes a data
//     type 4 request for an unsigned EIP-1559 transaction (sign-data
//     0x02 ‖ RLP of the unsigned fields, origin "walletmcp");
//     (*SignRequest).Tx() gives the transaction back and
//     (*SignRequest).SignedTx(sig) applies a signature after checking that
//     it recovers to the request's address.
//   - KeyPath: ParseKeyPath("m/44'/60'/0'/0/0"), DefaultPath(), String();
//     ParseFingerprint("12345678") for the source fingerprint (xfp).
//   - Summarize(request) says what a typed-transaction request does (chain,
//     from, to, amount, ERC-20 transfer decoded, fees, nonce); Sign(ctx,
//     signer, request, origin) signs it as an offline signer (airsign).
//   - Signature (eth-signature, tag 402): request-id, signature, origin.
//     MarshalCBOR, UR, ParseSignatureCBOR; ParseSignature(text) reads
//     ur:eth-signature or 0x-hex (65 bytes, v 0/1 or 27/28) into the
//     request id and R‖S‖V with v 0/1.
//
// QR: QRPNG(text, size) (go-qrcode, level Medium, URs uppercased so the
// code is alphanumeric), QRTerminal(text). Reading a QR code back from an
// image is package qrscan's (gozxing), which walletmcp does not link.
//
// # Security model
//
// Everything here parses input from outside: a QR scanned from a screen
// or a signature pasted by an agent. Every decoder is bounded: the text of
// a part (Limits.MaxURLen), the message (Limits.MaxMessageLen), the
// fragment count of a multi-part UR (Limits.MaxFragments), the parts
// received (Limits.MaxParts) and the mixed parts held while decoding
// (Limits.MaxMixedParts); CBOR is decoded with definite lengths only, no
// duplicate keys, at most 8 levels of nesting, small arrays and maps and
// unknown keys refused (images: see qrscan). Each multi-part message is
// checked against its CRC-32 and each part's bytewords against theirs.
//
// A sign request says nothing about whether it should be signed: airsign
// shows what Tx decodes, and the server accepts a signature only through
// SignedTx, which checks that it recovers to the account over exactly the
// request's transaction. This package holds no key.
package offline
