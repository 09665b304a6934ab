/// A node's certificate and its private key, as PEM text ready to write (``CertificateFiles``).
public struct IssuedCertificate: Sendable {
    /// `-----BEGIN CERTIFICATE-----`, signed by the CA that issued it.
    public let certificatePEM: String
    /// PKCS#8 `-----BEGIN PRIVATE KEY-----` (ECDSA P-256): keep it 0600 on the node.
    public let privateKeyPEM: String

    public init(certificatePEM: String, privateKeyPEM: String) {
        self.certificatePEM = certificatePEM
        self.privateKeyPEM = privateKeyPEM
    }
}
