import Testing
import TitanProtocol

@Suite("Master addresses and capability tags")
struct AddressingTests {
    @Test("HOST:PORT parses; IPv6 in brackets; localhost is 127.0.0.1")
    func parses() throws {
        #expect(try MasterAddress(parsing: "127.0.0.1:9090") == MasterAddress(host: "127.0.0.1", port: 9090))
        #expect(try MasterAddress(parsing: "localhost:1") == MasterAddress(host: "127.0.0.1", port: 1))
        #expect(try MasterAddress(parsing: "[::1]:65535") == MasterAddress(host: "::1", port: 65_535))
        #expect(try MasterAddress(parsing: "[::1]:65535").description == "[::1]:65535")
        #expect(MasterAddress.standard.description == "127.0.0.1:9090")
    }

    @Test("garbage is an error that quotes the input", arguments: [
        "", "nonsense", "127.0.0.1", ":9090", "host:", "host:0", "host:65536", "host:-1", "host:9090x", "[::1]", "h:1:x",
    ])
    func rejects(text: String) {
        #expect(throws: AddressError(text: text)) { try MasterAddress(parsing: text) }
        #expect(AddressError(text: text).description.contains("'\(text)'"))
    }

    @Test("capability lists: comma-separated, trimmed, upper-cased, deduplicated")
    func capabilities() {
        #expect(Capabilities.parse(["gpu, high_mem", " ssd ", "GPU"]) == ["GPU", "HIGH_MEM", "SSD"])
        #expect(Capabilities.parse([",, ,", ""]).isEmpty)
        #expect(Capabilities.parse([]).isEmpty)
    }
}
