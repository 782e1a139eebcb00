// The system's libcrypto (OpenSSL 3: Debian's libssl3 at run time, libssl-dev to build): SHA-256, HMAC, PBKDF2
// and scrypt for Porter's Cryptography (Sources/Porter/Cryptography.swift, the only file that calls it).
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
