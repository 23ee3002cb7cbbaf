package offline

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ethereum/go-ethereum/common"
	"github.com/fxamacker/cbor/v2"
)

// UR types and CBOR tags of EIP-4527 and the Blockchain Commons registry.
const (
	// URTypeSignRequest is the UR type of an EIP-4527 sign request.
	URTypeSignRequest = "eth-sign-request"
	// URTypeSignature is the UR type of an EIP-4527 signature.
	URTypeSignature = "eth-signature"
	// TagUUID is the CBOR tag of a UUID (16-byte string).
	TagUUID = 37
	// TagKeypath is the CBOR tag of a crypto-keypath (BCR-2020-007).
	TagKeypath = 304
	// TagSignRequest is the CBOR tag of an eth-sign-request when nested.
	TagSignRequest = 401
	// TagSignature is the CBOR tag of an eth-signature when nested.
	TagSignature = 402
	// DefaultOrigin is the origin NewTxSignRequest writes.
	DefaultOrigin = "walletmcp"
	// MaxSignDataLen bounds a sign request's sign-data in bytes.
	MaxSignDataLen = 32 << 10
	// MaxOriginLen bounds an origin in bytes.
	MaxOriginLen = 64
)

// DataType is an eth-sign-request's data-type.
type DataType int

// The data types of EIP-4527.
const (
	DataTypeLegacyTx        DataType = 1 // RLP of a legacy transaction
	DataTypeTypedData       DataType = 2 // EIP-712 typed data
	DataTypePersonalMessage DataType = 3 // personal message
	DataTypeTypedTx         DataType = 4 // typed transaction: type byte ‖ RLP payload
)

// ErrSignRequest is returned for an eth-sign-request that is malformed or
// outside this package's bounds; ErrSignature for an eth-signature or hex
// signature likewise. Both are wrapped with the field at fault.
var (
	ErrSignRequest = errors.New("offline: invalid eth-sign-request")
	ErrSignature   = errors.New("offline: invalid eth-signature")
)

// HardenedBit marks a hardened BIP-32 path component.
const HardenedBit = 0x80000000

// KeyPath is a crypto-keypath: BIP-32 components (hardened ones with
// HardenedBit set) and the master key's fingerprint (0 means absent).
type KeyPath struct {
	// Components are the path's indexes, m excluded.
	Components []uint32
	// SourceFingerprint is the master key fingerprint (xfp); 0 means unknown.
	SourceFingerprint uint32
}

// DefaultPath returns m/44'/60'/0'/0/0 with no source fingerprint.
func DefaultPath() KeyPath {
	return KeyPath{Components: []uint32{44 | HardenedBit, 60 | HardenedBit, HardenedBit, 0, 0}}
}

// ParseKeyPath parses "m/44'/60'/0'/0/0" (h or ' for hardened, at most 16
// components).
func ParseKeyPath(s string) (KeyPath, error) {
	bad := fmt.Errorf("%w: derivation-path", ErrSignRequest)
	comps := strings.Split(s, "/")
	if comps[0] != "m" || len(comps) > 17 {
		return KeyPath{}, bad
	}
	var kp KeyPath
	for _, c := range comps[1:] {
		var h uint32
		if strings.HasSuffix(c, "'") || strings.HasSuffix(c, "h") {
			c, h = c[:len(c)-1], HardenedBit
		}
		n, err := strconv.ParseUint(c, 10, 31)
		if err != nil || c == "" || c[0] == '+' {
			return KeyPath{}, bad
		}
		kp.Components = append(kp.Components, uint32(n)|h)
	}
	return kp, nil
}

// String returns the path as "m/44'/60'/0'/0/0".
func (k KeyPath) String() string {
	var b strings.Builder
	b.WriteString("m")
	for _, c := range k.Components {
		b.WriteString("/" + strconv.FormatUint(uint64(c&^HardenedBit), 10))
		if c&HardenedBit != 0 {
			b.WriteString("'")
		}
	}
	return b.String()
}

// wireKeypath is crypto-keypath's CBOR map: 1 components (index, hardened
// pairs), 2 source-fingerprint, 3 depth.
type wireKeypath struct {
	Components        []any   `cbor:"1,keyasint"`
	SourceFingerprint *uint32 `cbor:"2,keyasint,omitempty"`
	Depth             *uint8  `cbor:"3,keyasint,omitempty"`
}

func (k KeyPath) wire() cbor.Tag {
	w := wireKeypath{Components: make([]any, 0, 2*len(k.Components))}
	for _, c := range k.Components {
		w.Components = append(w.Components, uint64(c&^HardenedBit), c&HardenedBit != 0)
	}
	if k.SourceFingerprint != 0 {
		fp := k.SourceFingerprint
		w.SourceFingerprint = &fp
	}
	return cbor.Tag{Number: TagKeypath, Content: w}
}

func keyPathFromWire(raw cbor.RawTag, wrap error) (KeyPath, error) {
	bad := fmt.Errorf("%w: derivation-path", wrap)
	if raw.Number != TagKeypath {
		return KeyPath{}, bad
	}
	var w wireKeypath
	if err := decMode().Unmarshal(raw.Content, &w); err != nil {
		return KeyPath{}, bad
	}
	if len(w.Components)%2 != 0 || len(w.Components) > 32 {
		return KeyPath{}, bad
	}
	var kp KeyPath
	for i := 0; i < len(w.Components); i += 2 {
		n, ok1 := w.Components[i].(uint64)
		h, ok2 := w.Components[i+1].(bool)
		if !ok1 || !ok2 || n >= HardenedBit {
			return KeyPath{}, bad
		}
		c := uint32(n)
		if h {
			c |= HardenedBit
		}
		kp.Components = append(kp.Components, c)
	}
	if w.SourceFingerprint != nil {
		kp.SourceFingerprint = *w.SourceFingerprint
	}
	return kp, nil
}

func uuidTag(id [16]byte) cbor.Tag { return cbor.Tag{Number: TagUUID, Content: id[:]} }

func uuidFromWire(raw cbor.RawTag, wrap error) ([16]byte, error) {
	var id [16]byte
	var b []byte
	if raw.Number != TagUUID || decMode().Unmarshal(raw.Content, &b) != nil || len(b) != 16 {
		return id, fmt.Errorf("%w: request-id", wrap)
	}
	copy(id[:], b)
	return id, nil
}

// SignRequest is an EIP-4527 eth-sign-request.
type SignRequest struct {
	// RequestID is the request's UUID (key 1, tag 37).
	RequestID [16]byte
	// SignData is the data to sign (key 2): for DataTypeTypedTx the
	// unsigned typed transaction, type byte ‖ RLP of its fields.
	SignData []byte
	// DataType says what SignData is (key 3).
	DataType DataType
	// ChainID is the EIP-155 chain id (key 4); 0 means absent.
	ChainID uint64
	// Path is the signing key's derivation path (key 5, tag 304).
	Path KeyPath
	// Address is the signing account (key 6); nil means absent.
	Address *common.Address
	// Origin names the requesting software (key 7); "" means absent.
	Origin string
}

type wireSignRequest struct {
	RequestID cbor.RawTag `cbor:"1,keyasint"`
	SignData  []byte      `cbor:"2,keyasint"`
	DataType  int64       `cbor:"3,keyasint"`
	ChainID   *uint64     `cbor:"4,keyasint,omitempty"`
	Path      cbor.RawTag `cbor:"5,keyasint"`
	Address   []byte      `cbor:"6,keyasint,omitempty"`
	Origin    *string     `cbor:"7,keyasint,omitempty"`
}

type wireSignRequestOut struct {
	RequestID cbor.Tag `cbor:"1,keyasint"`
	SignData  []byte   `cbor:"2,keyasint"`
	DataType  int64    `cbor:"3,keyasint"`
	ChainID   *uint64  `cbor:"4,keyasint,omitempty"`
	Path      cbor.Tag `cbor:"5,keyasint"`
	Address   []byte   `cbor:"6,keyasint,omitempty"`
	Origin    string   `cbor:"7,keyasint,omitempty"`
}

func (r *SignRequest) check(wrap error) error {
	switch {
	case r.DataType < DataTypeLegacyTx || r.DataType > DataTypeTypedTx:
		return fmt.Errorf("%w: data-type", wrap)
	case len(r.SignData) == 0 || len(r.SignData) > MaxSignDataLen:
		return fmt.Errorf("%w: sign-data", wrap)
	case len(r.Origin) > MaxOriginLen || !utf8.ValidString(r.Origin):
		return fmt.Errorf("%w: origin", wrap)
	case len(r.Path.Components) > 16:
		return fmt.Errorf("%w: derivation-path", wrap)
	case r.ChainID > 1<<53: // EIP-2294's bound on chain ids
		return fmt.Errorf("%w: chain-id", wrap)
	}
	return nil
}

// MarshalCBOR returns the request's untagged CBOR map (the UR payload).
func (r *SignRequest) MarshalCBOR() ([]byte, error) {
	if err := r.check(ErrSignRequest); err != nil {
		return nil, err
	}
	w := wireSignRequestOut{
		RequestID: uuidTag(r.RequestID),
		SignData:  r.SignData,
		DataType:  int64(r.DataType),
		Path:      r.Path.wire(),
		Origin:    r.Origin,
	}
	if r.ChainID != 0 {
		c := r.ChainID
		w.ChainID = &c
	}
	if r.Address != nil {
		w.Address = r.Address.Bytes()
	}
	return encMode().Marshal(w)
}

// ParseSignRequest parses an eth-sign-request's CBOR (the UR payload,
// untagged, or tagged 401). Unknown keys are refused.
func ParseSignRequest(payload []byte) (*SignRequest, error) {
	if len(payload) > DefaultMaxMessageLen {
		return nil, fmt.Errorf("%w: length", ErrSignRequest)
	}
	payload, err := untag(payload, TagSignRequest)
	if err != nil {
		return nil, fmt.Errorf("%w: tag", ErrSignRequest)
	}
	var w wireSignRequest
	if err := decMode().Unmarshal(payload, &w); err != nil {
		return nil, fmt.Errorf("%w: cbor", ErrSignRequest)
	}
	if w.SignData == nil || w.Path.Number == 0 || w.DataType == 0 {
		return nil, fmt.Errorf("%w: missing field", ErrSignRequest)
	}
	r := &SignRequest{SignData: w.SignData, DataType: DataType(w.DataType)}
	if r.RequestID, err = uuidFromWire(w.RequestID, ErrSignRequest); err != nil {
		return nil, err
	}
	if r.Path, err = keyPathFromWire(w.Path, ErrSignRequest); err != nil {
		return nil, err
	}
	if w.ChainID != nil {
		if *w.ChainID == 0 {
			return nil, fmt.Errorf("%w: chain-id", ErrSignRequest)
		}
		r.ChainID = *w.ChainID
	}
	if w.Address != nil {
		if len(w.Address) != common.AddressLength {
			return nil, fmt.Errorf("%w: address", ErrSignRequest)
		}
		a := common.BytesToAddress(w.Address)
		r.Address = &a
	}
	if w.Origin != nil {
		r.Origin = *w.Origin
	}
	if err := r.check(ErrSignRequest); err != nil {
		return nil, err
	}
	return r, nil
}

// UR returns the request as ur:eth-sign-request parts (one when it fits
// maxFragmentLen bytes), lowercase.
func (r *SignRequest) UR(maxFragmentLen int) ([]string, error) {
	b, err := r.MarshalCBOR()
	if err != nil {
		return nil, err
	}
	return EncodeUR(URTypeSignRequest, b, maxFragmentLen)
}

// ParseSignRequestUR decodes a ur:eth-sign-request from all its parts.
func ParseSignRequestUR(parts []string, lim *Limits) (*SignRequest, error) {
	b, err := DecodeUR(URTypeSignRequest, parts, lim)
	if err != nil {
		return nil, err
	}
	return ParseSignRequest(b)
}

// Signature is an EIP-4527 eth-signature.
type Signature struct {
	// RequestID is the UUID of the request signed (key 1, tag 37).
	RequestID [16]byte
	// Signature is R‖S‖V (key 2), 65 bytes for a typed transaction.
	Signature []byte
	// Origin names the signing device (key 3); "" means absent.
	Origin string
}

type wireSignature struct {
	RequestID cbor.RawTag `cbor:"1,keyasint"`
	Signature []byte      `cbor:"2,keyasint"`
	Origin    *string     `cbor:"3,keyasint,omitempty"`
}

type wireSignatureOut struct {
	RequestID cbor.Tag `cbor:"1,keyasint"`
	Signature []byte   `cbor:"2,keyasint"`
	Origin    string   `cbor:"3,keyasint,omitempty"`
}

// MarshalCBOR returns the signature's untagged CBOR map (the UR payload).
func (s *Signature) MarshalCBOR() ([]byte, error) {
	if len(s.Signature) != 65 {
		return nil, fmt.Errorf("%w: signature", ErrSignature)
	}
	if len(s.Origin) > MaxOriginLen || !utf8.ValidString(s.Origin) {
		return nil, fmt.Errorf("%w: origin", ErrSignature)
	}
	return encMode().Marshal(wireSignatureOut{RequestID: uuidTag(s.RequestID), Signature: s.Signature, Origin: s.Origin})
}

// UR returns the signature as one lowercase ur:eth-signature.
func (s *Signature) UR() (string, error) {
	b, err := s.MarshalCBOR()
	if err != nil {
		return "", err
	}
	parts, err := EncodeUR(URTypeSignature, b, DefaultMaxMessageLen)
	if err != nil {
		return "", err
	}
	return parts[0], nil
}

// ParseSignatureCBOR parses an eth-signature's CBOR (untagged or tagged
// 402). The signature must be 65 bytes; V is returned as given.
func ParseSignatureCBOR(payload []byte) (*Signature, error) {
	if len(payload) > 1024 {
		return nil, fmt.Errorf("%w: length", ErrSignature)
	}
	payload, err := untag(payload, TagSignature)
	if err != nil {
		return nil, fmt.Errorf("%w: tag", ErrSignature)
	}
	var w wireSignature
	if err := decMode().Unmarshal(payload, &w); err != nil {
		return nil, fmt.Errorf("%w: cbor", ErrSignature)
	}
	s := &Signature{Signature: w.Signature}
	if s.RequestID, err = uuidFromWire(w.RequestID, ErrSignature); err != nil {
		return nil, err
	}
	if len(w.Signature) != 65 {
		return nil, fmt.Errorf("%w: signature length", ErrSignature)
	}
	if w.Origin != nil {
		if len(*w.Origin) > MaxOriginLen {
			return nil, fmt.Errorf("%w: origin", ErrSignature)
		}
		s.Origin = *w.Origin
	}
	return s, nil
}

// untag strips an outer CBOR tag want, if present; another tag is an error.
func untag(b []byte, want uint64) ([]byte, error) {
	if len(b) == 0 || b[0]>>5 != 6 {
		return b, nil
	}
	var raw cbor.RawTag
	if err := decMode().Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	if raw.Number != want {
		return nil, errors.New("unexpected tag")
	}
	return raw.Content, nil
}

// encMode is the CBOR encoder: core deterministic encoding (RFC 8949 §4.2.1).
func encMode() cbor.EncMode {
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil { // fixed, valid options
		panic("offline: cbor options: " + err.Error())
	}
	return em
}

// ParseFingerprint parses a master key fingerprint (xfp) written as 8 hex
// digits, with or without 0x, as a KeyPath's SourceFingerprint. Zero is
// refused: it means "absent".
func ParseFingerprint(s string) (uint32, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	n, err := strconv.ParseUint(s, 16, 32)
	if err != nil || len(s) != 8 || n == 0 {
		return 0, fmt.Errorf("%w: source-fingerprint (want 8 hex digits, not 00000000)", ErrSignRequest)
	}
	return uint32(n), nil
}
