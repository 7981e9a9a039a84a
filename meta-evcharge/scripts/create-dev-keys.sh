#!/bin/sh
# Create a development PKI for signing evcharge RAUC bundles:
#   <dir>/ca.cert.pem              CA certificate -> the device keyring (/etc/rauc/)
#   <dir>/development-1.cert.pem   code-signing certificate (extendedKeyUsage=codeSigning)
#   <dir>/development-1.key.pem    its private key
#
# Usage: meta-evcharge/scripts/create-dev-keys.sh [DIR]    (default: ./build/keys)
#
# conf/distro/evcharge.conf looks in ${TOPDIR}/keys, which with kas is build/keys.
# These keys are for development only: anyone with the repository can make them, so a
# device with this keyring accepts anybody's bundle. Never commit them; production uses
# its own CA and an HSM/PKCS#11 key (set RAUC_KEY_FILE/RAUC_CERT_FILE/RAUC_KEYRING_FILE).
set -eu

dir="${1:-build/keys}"
days="${EVCHARGE_DEV_KEY_DAYS:-3650}"

if [ -e "$dir/development-1.key.pem" ]; then
    echo "$dir/development-1.key.pem exists; not overwriting (remove $dir to start over)" >&2
    exit 1
fi
command -v openssl >/dev/null || { echo "openssl not found" >&2; exit 1; }

mkdir -p "$dir"
umask 077
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

cat > "$tmp/openssl.cnf" <<'CNF'
[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
O = evcharge development
[ v3_ca ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ v3_signing ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = critical, codeSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
CNF

# CA
openssl req -x509 -new -newkey rsa:4096 -nodes -sha256 -days "$days" \
    -config "$tmp/openssl.cnf" -extensions v3_ca \
    -subj "/O=evcharge development/CN=evcharge development CA" \
    -keyout "$tmp/ca.key.pem" -out "$dir/ca.cert.pem"

# Signing key and certificate (code signing only: system.conf has check-purpose=codesign)
openssl req -new -newkey rsa:4096 -nodes -sha256 \
    -config "$tmp/openssl.cnf" \
    -subj "/O=evcharge development/CN=evcharge development signing 1" \
    -keyout "$dir/development-1.key.pem" -out "$tmp/development-1.csr.pem"
openssl x509 -req -sha256 -days "$days" \
    -in "$tmp/development-1.csr.pem" \
    -CA "$dir/ca.cert.pem" -CAkey "$tmp/ca.key.pem" -CAcreateserial -CAserial "$tmp/ca.srl" \
    -extfile "$tmp/openssl.cnf" -extensions v3_signing \
    -out "$dir/development-1.cert.pem"

# The CA key is not kept: a new signing certificate means a new development CA.
openssl verify -purpose codesign -CAfile "$dir/ca.cert.pem" "$dir/development-1.cert.pem" >/dev/null 2>&1 \
    || openssl verify -CAfile "$dir/ca.cert.pem" "$dir/development-1.cert.pem"
chmod 0644 "$dir/ca.cert.pem" "$dir/development-1.cert.pem"
chmod 0600 "$dir/development-1.key.pem"
echo "development keys in $dir:"
ls -l "$dir"
