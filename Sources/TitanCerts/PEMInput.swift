import Foundation
import SwiftASN1
import X509

/// Reading the PEM a person hands us (files written by ``CertificateFiles`` or by OpenSSL), with
/// errors that say which input and what is wrong.
enum PEMInput {
    /// The one certificate in `pem`.
    static func certificate(_ pem: String, which: String) throws(CertificateError) -> Certificate {
        let documents = try blocks(pem, which: which)
        let certificates = documents.filter { $0.discriminator == "CERTIFICATE" }
        guard let document = certificates.first else {
            let found = documents.map(\.discriminator)
            throw .unreadablePEM(which: which, reason: "holds no -----BEGIN CERTIFICATE----- block"
                + (found.isEmpty ? "" : " (found \(found.joined(separator: ", ")))"))
        }
        guard certificates.count == 1 else {
            throw .unreadablePEM(which: which, reason: "holds \(certificates.count) certificates: expected one")
        }
        do {
            return try Certificate(derEncoded: document.derBytes)
        } catch {
            throw .unreadablePEM(which: which, reason: "not a valid X.509 certificate (\(error))")
        }
    }

    /// The one private key in `pem` (PKCS#8, SEC1 `EC PRIVATE KEY` or `RSA PRIVATE KEY`; an
    /// `EC PARAMETERS` block beside it, as `openssl ecparam -genkey` writes, is ignored).
    static func privateKey(_ pem: String, which: String) throws(CertificateError) -> Certificate.PrivateKey {
        let documents = try blocks(pem, which: which).filter { $0.discriminator != "EC PARAMETERS" }
        if documents.contains(where: { $0.discriminator == "ENCRYPTED PRIVATE KEY" }) {
            throw .unreadablePEM(which: which, reason: "is encrypted: store it unencrypted (openssl pkey -in KEY -out PLAIN)")
        }
        let keys = documents.filter { $0.discriminator.hasSuffix("PRIVATE KEY") }
        guard let document = keys.first else {
            throw .unreadablePEM(which: which, reason: "holds no -----BEGIN PRIVATE KEY----- block")
        }
        guard keys.count == 1 else {
            throw .unreadablePEM(which: which, reason: "holds \(keys.count) private keys: expected one")
        }
        do {
            return try Certificate.PrivateKey(pemDocument: document)
        } catch {
            throw .unreadablePEM(which: which, reason: "not a usable private key (\(error))")
        }
    }

    private static func blocks(_ pem: String, which: String) throws(CertificateError) -> [PEMDocument] {
        let documents: [PEMDocument]
        do {
            documents = try PEMDocument.parseMultiple(pemString: pem)
        } catch {
            throw .unreadablePEM(which: which, reason: "not valid PEM (\(error))")
        }
        if documents.isEmpty { throw .unreadablePEM(which: which, reason: "holds no PEM block (-----BEGIN ...-----)") }
        return documents
    }
}
