import Crypto
import Foundation
import SwiftASN1
import X509

/// A cluster's own certificate authority: it signs the certificate of every node, and every node
/// trusts it (the master checks workers' certificates against it, workers and clients the master's).
public struct CertificateAuthority: Sendable {
    /// The CA's certificate: `-----BEGIN CERTIFICATE-----`. Every node gets a copy (`--tls-ca`).
    public let certificatePEM: String
    /// The CA's key, PKCS#8 `-----BEGIN PRIVATE KEY-----` (OpenSSL reads it). Stays where
    /// certificates are issued.
    public let privateKeyPEM: String

    let certificate: Certificate
    let key: Certificate.PrivateKey

    /// Most SubjectAlternativeNames one node certificate carries.
    public static let maxHosts = 100

    /// When the CA stops being valid (and so every certificate it signed).
    public var notValidAfter: Date { certificate.notValidAfter }

    /// A new self-signed CA (ECDSA P-256, BasicConstraints CA:true pathlen 0, KeyUsage
    /// keyCertSign+cRLSign, SubjectKeyIdentifier).
    public static func create(commonName: String = "Titan cluster CA", notBefore: Date = .now - 300,
                              notAfter: Date) throws(CertificateError) -> CertificateAuthority {
        try checkCommonName(commonName)
        let (from, until) = try validity(notBefore, notAfter)
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let certificate = try sign {
            let name = try DistinguishedName { CommonName(commonName) }
            let extensions = try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: key.publicKey)
            }
            return try Certificate(
                version: .v3, serialNumber: randomSerialNumber(), publicKey: key.publicKey,
                notValidBefore: from, notValidAfter: until, issuer: name, subject: name,
                signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions, issuerPrivateKey: key)
        }
        return try CertificateAuthority(certificate: certificate, key: key)
    }

    /// Loads one written before (checks the key matches the certificate, and that it is a CA).
    /// The key may be PKCS#8 or SEC1/PKCS#1 (ECDSA P-256/384/521, RSA, Ed25519), so a CA made
    /// with OpenSSL works too; ``privateKeyPEM`` is then its PKCS#8 form.
    public init(certificatePEM: String, privateKeyPEM: String) throws(CertificateError) {
        let certificate = try PEMInput.certificate(certificatePEM, which: Self.certificateInput)
        let key = try PEMInput.privateKey(privateKeyPEM, which: Self.keyInput)
        guard key.publicKey == certificate.publicKey else { throw .keyDoesNotMatchCertificate }
        let constraints: BasicConstraints?
        let usage: KeyUsage?
        do {
            constraints = try certificate.extensions.basicConstraints
            usage = try certificate.extensions.keyUsage
        } catch {
            throw .unreadablePEM(which: Self.certificateInput, reason: "an extension cannot be decoded (\(error))")
        }
        switch constraints {
        case .none:
            throw .notACertificateAuthority(reason: "it has no BasicConstraints extension")
        case .notCertificateAuthority:
            throw .notACertificateAuthority(reason: "its BasicConstraints say CA:FALSE")
        case .isCertificateAuthority:
            break
        }
        if let usage, !usage.keyCertSign {
            throw .notACertificateAuthority(reason: "its KeyUsage does not include keyCertSign")
        }
        try self.init(certificate: certificate, key: key)
    }

    private init(certificate: Certificate, key: Certificate.PrivateKey) throws(CertificateError) {
        self.certificate = certificate
        self.key = key
        do {
            certificatePEM = try certificate.serializeAsPEM().pemString + "\n"
            privateKeyPEM = try key.serializeAsPEM().pemString + "\n"
        } catch {
            throw .signingFailed("cannot encode the CA as PEM (\(error))")
        }
    }

    /// A leaf certificate for a node: SubjectAlternativeNames from `hosts` (an IPv4/IPv6 literal
    /// becomes an IP SAN, anything else a DNS name, checked by ``SubjectHost/init(parsing:)``),
    /// KeyUsage digitalSignature, ExtendedKeyUsage serverAuth+clientAuth (one file serves a master
    /// as server and a worker as client), BasicConstraints CA:false, AuthorityKeyIdentifier +
    /// SubjectKeyIdentifier, random 20-byte positive serial; a new ECDSA P-256 key.
    public func issue(commonName: String, hosts: [String], notBefore: Date = .now - 300,
                      notAfter: Date) throws(CertificateError) -> IssuedCertificate {
        try Self.checkCommonName(commonName)
        let (from, until) = try Self.validity(notBefore, notAfter)
        guard !hosts.isEmpty else { throw .noHosts }
        guard hosts.count <= Self.maxHosts else { throw .tooManyHosts(count: hosts.count, limit: Self.maxHosts) }
        var names: [SubjectHost] = []
        for host in hosts {
            let name = try SubjectHost(parsing: host)
            if !names.contains(name) { names.append(name) }
        }
        if until > certificate.notValidAfter {
            throw .outlivesAuthority(notAfter: until, authorityNotAfter: certificate.notValidAfter)
        }
        let leafKey = P256.Signing.PrivateKey()
        let publicKey = Certificate.PublicKey(leafKey.publicKey)
        let (caCertificate, caKey) = (certificate, key)
        let signed = try Self.sign {
            let authorityKeyId = try caCertificate.extensions.subjectKeyIdentifier?.keyIdentifier
                ?? SubjectKeyIdentifier(hash: caCertificate.publicKey).keyIdentifier
            let extensions = try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                SubjectAlternativeNames(names.map(\.generalName))
                SubjectKeyIdentifier(hash: publicKey)
                AuthorityKeyIdentifier(keyIdentifier: authorityKeyId)
            }
            return try Certificate(
                version: .v3, serialNumber: Self.randomSerialNumber(), publicKey: publicKey,
                notValidBefore: from, notValidAfter: until, issuer: caCertificate.subject,
                subject: try DistinguishedName { CommonName(commonName) },
                signatureAlgorithm: Self.signatureAlgorithm(for: caKey), extensions: extensions, issuerPrivateKey: caKey)
        }
        do {
            return IssuedCertificate(certificatePEM: try signed.serializeAsPEM().pemString + "\n",
                                     privateKeyPEM: leafKey.pemRepresentation + "\n")
        } catch {
            throw .signingFailed("cannot encode the certificate as PEM (\(error))")
        }
    }

    // MARK: - Checks and pieces

    /// How errors name the two inputs of ``init(certificatePEM:privateKeyPEM:)``.
    static let certificateInput = "CA certificate", keyInput = "CA private key"

    /// Longest common name (X.520 ub-common-name).
    static let maxCommonNameLength = 64

    static func checkCommonName(_ name: String) throws(CertificateError) {
        if name.isEmpty { throw .badCommonName(name, reason: "is empty") }
        if name.count > maxCommonNameLength {
            throw .badCommonName(name, reason: "is longer than \(maxCommonNameLength) characters")
        }
        if name.unicodeScalars.contains(where: { $0.value < 0x20 || ($0.value >= 0x7F && $0.value < 0xA0) }) {
            throw .badCommonName(name, reason: "contains a control character")
        }
    }

    /// Both dates on whole seconds (X.509 times carry no fractions), the end after the start.
    static func validity(_ notBefore: Date, _ notAfter: Date) throws(CertificateError) -> (Date, Date) {
        let from = Date(timeIntervalSince1970: notBefore.timeIntervalSince1970.rounded(.down))
        let until = Date(timeIntervalSince1970: notAfter.timeIntervalSince1970.rounded(.down))
        guard until > from else { throw .notAfterBeforeNotBefore(notBefore: from, notAfter: until) }
        return (from, until)
    }

    /// 20 random bytes whose first is 0x01...0x7F: positive and exactly 20 bytes in DER, the
    /// most RFC 5280 allows.
    static func randomSerialNumber() -> Certificate.SerialNumber {
        var generator = SystemRandomNumberGenerator()
        var bytes = (0..<20).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes[0] = UInt8.random(in: 1...0x7F, using: &generator)
        return Certificate.SerialNumber(bytes: bytes)
    }

    /// The usual signature algorithm for a CA key of this kind (a CA loaded from OpenSSL may hold
    /// P-384, P-521, RSA or Ed25519).
    static func signatureAlgorithm(for key: Certificate.PrivateKey) -> Certificate.SignatureAlgorithm {
        let supported = key.supportedSignatureAlgorithms
        if supported.contains(.ed25519) { return .ed25519 }
        if supported.contains(.sha256WithRSAEncryption) { return .sha256WithRSAEncryption }
        if P384.Signing.PublicKey(key.publicKey) != nil { return .ecdsaWithSHA384 }
        if P521.Signing.PublicKey(key.publicKey) != nil { return .ecdsaWithSHA512 }
        return .ecdsaWithSHA256
    }

    /// Runs `body`, turning the library's errors into ``CertificateError/signingFailed(_:)``.
    static func sign(_ body: () throws -> Certificate) throws(CertificateError) -> Certificate {
        do {
            return try body()
        } catch let error as CertificateError {
            throw error
        } catch {
            throw .signingFailed("\(error)")
        }
    }
}
