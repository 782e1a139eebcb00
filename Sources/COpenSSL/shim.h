// The system's libcrypto (OpenSSL 3: Debian's libssl3 at run time, libssl-dev to build): SHA-256, PBKDF2 and scrypt
// for Porter's Cryptography (Sources/Porter/Cryptography.swift, the only file that calls it; HMAC and HKDF are built
// there on SHA-256).
#include <openssl/crypto.h>
#include <openssl/evp.h>
