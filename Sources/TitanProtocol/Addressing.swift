/// Where a master listens: `HOST:PORT`, as every client command and worker takes it.
public struct MasterAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    /// 127.0.0.1:9090, the master's default.
    public static let standard = MasterAddress(host: "127.0.0.1", port: 9090)

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT`; IPv6 as `[::1]:9090`; `localhost` means 127.0.0.1.
    public init(parsing text: String) throws(AddressError) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (1...65_535).contains(port) else { throw AddressError(text: text) }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host == "localhost" { host = "127.0.0.1" }
        guard !host.isEmpty else { throw AddressError(text: text) }
        self.init(host: host, port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// A master address that does not parse.
public struct AddressError: Error, Sendable, Equatable, CustomStringConvertible {
    public var text: String

    public init(text: String) {
        self.text = text
    }

    public var description: String { "invalid master address '\(text)': expected HOST:PORT" }
}

/// Capability tags as users type them.
public enum Capabilities {
    /// `["gpu, high_mem", "ssd"]` → `["GPU", "HIGH_MEM", "SSD"]`: comma-separated, trimmed,
    /// upper-cased, empties dropped, first occurrence kept.
    public static func parse(_ texts: [String]) -> [String] {
        var seen: Set<String> = []
        var tags: [String] = []
        for text in texts {
            // Split on scalars: a comma after a prepended mark (U+0600...) is part of its Character.
            for scalars in text.unicodeScalars.split(separator: ",") {
                let part = Substring(scalars)
                let tag = String(part.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
                    .uppercased()
                if !tag.isEmpty && seen.insert(tag).inserted { tags.append(tag) }
            }
        }
        return tags
    }
}
