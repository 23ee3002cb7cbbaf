package config

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"
)

// Attestation pins the SHA-256 of policy.toml. Its MAC is keyed with a key
// derived from the home passphrase, so that a process that can write the home
// but does not know the passphrase cannot attest a policy of its own.
type Attestation struct {
	// SHA256 is the hex SHA-256 of the attested policy.toml.
	SHA256 string `json:"sha256"`
	// AttestedAt is when the human attested it.
	AttestedAt time.Time `json:"attested_at"`
	// MAC is hex HMAC-SHA256(derive("policy-attestation"), sha256 || attested_at).
	MAC string `json:"mac"`
}

func attestationMAC(mk *MasterKey, sum string, at time.Time) ([]byte, error) {
	k, err := mk.Derive("policy-attestation")
	if err != nil {
		return nil, err
	}
	defer k.Wipe()
	m := hmac.New(sha256.New, k.Reveal())
	m.Write([]byte(sum))
	m.Write([]byte{0})
	m.Write([]byte(at.UTC().Format(time.RFC3339Nano)))
	return m.Sum(nil), nil
}

// ReadPolicy returns policy.toml and its hex SHA-256.
func (h *Home) ReadPolicy() ([]byte, string, error) {
	data, err := os.ReadFile(h.Path(PolicyFile))
	if err != nil {
		return nil, "", fmt.Errorf("config: read %s: %w", PolicyFile, err)
	}
	sum := sha256.Sum256(data)
	return data, hex.EncodeToString(sum[:]), nil
}

// Attest pins sum (the hex SHA-256 of policy.toml) as attested now.
func (h *Home) Attest(mk *MasterKey, sum string, now time.Time) error {
	mac, err := attestationMAC(mk, sum, now)
	if err != nil {
		return err
	}
	return h.writeJSON(AttestationFile, Attestation{SHA256: sum, AttestedAt: now.UTC(), MAC: hex.EncodeToString(mac)})
}

// CheckAttestation returns the attestation if sum is the attested hash and
// the attestation's MAC verifies under mk; otherwise ErrNotAttested or
// ErrPolicyDrift.
func (h *Home) CheckAttestation(mk *MasterKey, sum string) (*Attestation, error) {
	var a Attestation
	if err := h.readJSON(AttestationFile, &a); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, ErrNotAttested
		}
		return nil, err
	}
	want, err := attestationMAC(mk, a.SHA256, a.AttestedAt)
	if err != nil {
		return nil, err
	}
	got, err := hex.DecodeString(a.MAC)
	if err != nil || !hmac.Equal(want, got) {
		return nil, fmt.Errorf("%w: %s has an invalid MAC (not written by this home's owner)", ErrNotAttested, AttestationFile)
	}
	if a.SHA256 != sum {
		return nil, fmt.Errorf("%w (attested %s…, file is %s…)", ErrPolicyDrift, a.SHA256[:12], sum[:12])
	}
	return &a, nil
}

// AttestedSHA256 returns the hash the attestation file pins, without checking
// its MAC (that needs the passphrase: CheckAttestation).
func (h *Home) AttestedSHA256() (string, error) {
	var a Attestation
	if err := h.readJSON(AttestationFile, &a); err != nil {
		return "", err
	}
	return a.SHA256, nil
}
