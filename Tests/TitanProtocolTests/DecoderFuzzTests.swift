import Testing
import TitanProtocol
import TitanTestSupport

/// Fuzz targets for everything in TitanProtocol that turns bytes from a peer or a user into
/// values: frames, native payloads, v1 payloads, master addresses. Budget and seed come from
/// `TITAN_FUZZ_SECONDS` / `TITAN_FUZZ_SEED` (see `FuzzOptions`).
@Suite("Fuzzing the protocol decoders")
struct DecoderFuzzTests {
    /// A native input is the opcode byte, then the payload.
    static let nativeCorpus: [[UInt8]] = Fixtures.smallSamples.map { sample in
        let encoded = NativeCodec.encode(sample.envelope)
        return [encoded[1]] + encoded.dropFirst(TitanProto.headerSize)
    }

    static let v1Corpus: [[UInt8]] = [
        (0x04, "extract|RUN_PAYLOAD|extract.py|--day 2024-01-01|cHJpbnQoMSk=|GENERAL|5|100|[] ; "
            + "train|DEPLOY_PAYLOAD|server.py|c2VydmU=|8080|GPU|1|0|[extract]|AFFINITY ; "
            + "DAG-report|RUN_ARCHIVE|proj.zip/src/report.py|a b|GENERAL|2|0|[DAG-extract,train] ; "
            + "svc|START_ARCHIVE_SERVICE|proj.zip/app.py||9000|HIGH_MEM|1|0|[report]|STICKY"),
        (0x03, "RUN_PAYLOAD|x.sh|a|ZWNobw==|GENERAL"), (0x03, "myjob|RUN_PAYLOAD|x.sh||ZWNobw==|GPU|7|250"),
        (0x03, "job|START_ARCHIVE_SERVICE|p.zip/a.py|x|80|GPU"), (0x60, "k|a|b|c"), (0x61, "k"),
        (0x62, "titan:hitl:queue|gate-1"), (0x63, "s"), (0x53, "model.bin|AAEC"), (0x54, "model.bin"),
        (0x57, "w.py|cA=="), (0x05, "w.py|8080|GPU"), (0x06, "w.py|GPU"), (0x55, "DAG-x"), (0x16, "DAG-x"),
        (0x56, "DAG-x"), (0x07, "DAG-svc"), (0x08, ""), (0x09, ""), (0x0B, ""), (0x11, "10.0.0.1|8081"),
    ].map { [$0.0] + Array($0.1.utf8) }

    static let v1Dictionary: [[UInt8]] = [
        "RUN_PAYLOAD", "DEPLOY_PAYLOAD", "RUN_ARCHIVE", "START_ARCHIVE_SERVICE", "|AFFINITY", "|STICKY", "|[]",
        "[", "]", " ; ", ";", "DAG-", "..", "/", "\\", "|", ".zip/", "GENERAL", "é", "\u{301}", "\0",
    ].map { Array($0.utf8) }

    /// Streams of a few frames each: native samples, and v1 frames among them.
    static let streamCorpus: [[UInt8]] = {
        let natives = Fixtures.smallSamples.map { NativeCodec.encode($0.envelope) }
        let v1s = v1Corpus.prefix(6).map { Frame(version: 1, opcode: $0[0], payload: Array($0.dropFirst())).encoded() }
        var streams: [[UInt8]] = []
        for i in stride(from: 0, to: natives.count, by: 3) {
            streams.append(natives[i ..< min(i + 3, natives.count)].flatMap { $0 } + v1s[i / 3 % v1s.count])
        }
        return streams.filter { $0.count <= 4096 }
    }()

    @Test("NativeCodec: every opcode decodes to a typed error or a value that round-trips")
    func nativeCodec() {
        #expect(Set(Self.nativeCorpus.map { $0[0] }) == Set(NativeOpcode.allCases.map(\.rawValue)),
                "the corpus holds a sample of every opcode")
        let report = Fuzzer.run("native-codec", corpus: Self.nativeCorpus) { fuzzCase in
            try Self.checkNative(opcode: fuzzCase.bytes.first ?? 0, payload: Array(fuzzCase.bytes.dropFirst()))
        }
        #expect(report.failure == nil, "\(report)")
        #expect(report.seedsAccepted == Self.nativeCorpus.count, "\(report)")
    }

    @Test("FrameDecoder: whole, byte by byte or split anywhere, the same frames and the same error")
    func frameDecoder() {
        let report = Fuzzer.run("frame-decoder", corpus: Self.streamCorpus) { fuzzCase in
            let bytes = fuzzCase.bytes
            // A small limit, so that mutated lengths reach `frameTooLarge` too.
            let limit = 2048
            let whole = Self.decodeStream(bytes, limit: limit) { decoder in decoder.append(contentsOf: bytes) }
            let single = Self.decodeStream(bytes, limit: limit) { decoder in
                for byte in bytes { decoder.append(contentsOf: CollectionOfOne(byte)) }
            }
            var rng = fuzzCase.rng
            var cuts = (0 ..< Int.random(in: 0 ... 8, using: &rng)).map { _ in Int.random(in: 0 ... bytes.count, using: &rng) }
            cuts = ([0] + cuts + [bytes.count]).sorted()
            let split = Self.decodeStream(bytes, limit: limit) { decoder in
                for (start, end) in zip(cuts, cuts.dropFirst()) {
                    bytes[start ..< end].withUnsafeBytes { decoder.append($0) }
                }
            }
            try fuzzCheck(!whole.errorChanged && !single.errorChanged && !split.errorChanged, "an error that is not sticky")
            try fuzzCheck(single == whole, "byte by byte: \(single), whole: \(whole)")
            try fuzzCheck(split == whole, "split at \(cuts): \(split), whole: \(whole)")
            // Framing accounts for every byte: each frame is the bytes at its offset, then what
            // is left stays buffered (or, after an error, nothing does).
            var offset = 0
            for frame in whole.frames {
                let header = Array(bytes[offset ..< offset + TitanProto.headerSize])
                let length = Int(header[4]) << 24 | Int(header[5]) << 16 | Int(header[6]) << 8 | Int(header[7])
                try fuzzCheck(header[0] == frame.version && header[1] == frame.opcode && header[2] == frame.flags
                              && length == frame.payload.count, "frame at \(offset) does not match its header")
                offset += TitanProto.headerSize
                try fuzzCheck(Array(bytes[offset ..< offset + length]) == frame.payload, "payload at \(offset) differs")
                offset += length
            }
            try fuzzCheck(whole.buffered == (whole.error == nil ? bytes.count - offset : 0),
                          "\(whole.buffered) bytes buffered, \(bytes.count - offset) after the last frame")
            for frame in whole.frames {
                try fuzzCheck(frame.payload.count <= limit, "a frame over the limit: \(frame.payload.count)")
                if frame.version == TitanProto.nativeVersion {
                    _ = try Self.checkNative(opcode: frame.opcode, payload: frame.payload)
                } else {
                    _ = try Self.checkV1(opcode: frame.opcode, payload: frame.payload)
                }
            }
            return !whole.frames.isEmpty
        }
        #expect(report.failure == nil, "\(report)")
        #expect(report.seedsAccepted == Self.streamCorpus.count, "\(report)")
    }

    @Test("V1Codec: a request, or an error the original SDK recognises")
    func v1Codec() {
        let report = Fuzzer.run("v1-codec", corpus: Self.v1Corpus, dictionary: Self.v1Dictionary) { fuzzCase in
            try Self.checkV1(opcode: fuzzCase.bytes.first ?? 0, payload: Array(fuzzCase.bytes.dropFirst()))
        }
        #expect(report.failure == nil, "\(report)")
        #expect(report.seedsAccepted == Self.v1Corpus.count, "\(report)")
    }

    @Test("MasterAddress and Capabilities: parsed values keep their promises")
    func addresses() {
        let corpus = ["127.0.0.1:9090", "[::1]:9090", "localhost:1", "host.example:65535", "gpu, high_mem,ssd", " a ,,b\t"]
            .map { Array($0.utf8) }
        let report = Fuzzer.run("addresses", corpus: corpus, dictionary: [":", "[", "]", ",", "localhost"].map { Array($0.utf8) }) { fuzzCase in
            let text = String(decoding: fuzzCase.bytes, as: UTF8.self)
            let tags = Capabilities.parse([text])
            try fuzzCheck(Set(tags).count == tags.count, "repeated tags \(tags)")
            try fuzzCheck(tags.allSatisfy { !$0.isEmpty && !$0.contains(",") && $0 == $0.uppercased() }, "bad tags \(tags)")
            let address: MasterAddress
            do throws(AddressError) {
                address = try MasterAddress(parsing: text)
            } catch {
                try fuzzCheck(error.description.contains("expected HOST:PORT"), "error without the form: \(error)")
                return false
            }
            try fuzzCheck((1 ... 65_535).contains(address.port) && !address.host.isEmpty, "parsed \(address)")
            return true
        }
        #expect(report.failure == nil, "\(report)")
        #expect(report.seedsAccepted == 4, "\(report)")
    }

    // MARK: - Checks shared by the targets

    /// Decodes a native payload: a `ProtocolError` naming the opcode (and, for a bad payload, the
    /// problem), or an envelope that re-encodes, decodes to itself and re-encodes identically.
    static func checkNative(opcode: UInt8, payload: [UInt8]) throws -> Bool {
        let envelope: Envelope
        do throws(ProtocolError) {
            envelope = try NativeCodec.decode(Frame(opcode: opcode, payload: payload))
        } catch {
            switch error {
            case .unknownOpcode(let reported):
                try fuzzCheck(reported == opcode && NativeOpcode(rawValue: opcode) == nil, "\(error) for opcode \(opcode)")
            case .malformed(let reported, let reason):
                try fuzzCheck(reported == opcode && !reason.isEmpty, "\(error) for opcode \(opcode)")
            }
            return false
        }
        let encoded = NativeCodec.encode(envelope)
        try fuzzCheck(encoded[1] == opcode, "decoded as opcode \(encoded[1]), sent as \(opcode)")
        var decoder = FrameDecoder()
        decoder.append(contentsOf: encoded)
        guard let frame = try decoder.next() else { throw FuzzViolation("the re-encoded frame is incomplete") }
        let again = try NativeCodec.decode(frame)
        try fuzzCheck(again == envelope, "round trip changed \(envelope) into \(again)")
        try fuzzCheck(NativeCodec.encode(again) == encoded, "encoding is not stable")
        return true
    }

    /// Decodes a v1 payload: an error in the form the original SDK matches, or a request whose
    /// names and numbers are within what the bridge may act on.
    static func checkV1(opcode: UInt8, payload: [UInt8]) throws -> Bool {
        let request: V1Request
        do throws(V1Error) {
            request = try V1Codec.decode(opcode: opcode, payload: payload)
        } catch {
            try fuzzCheck(error.message.hasPrefix("ERROR: ") || error.message.hasPrefix("UNKNOWN_OPCODE: "),
                          "a v1 error the SDK would not recognise: \(error.message)")
            return false
        }
        // Checked on bytes, as the file system sees names, not on Swift's grapheme clusters.
        func plainName(_ name: String) -> Bool {
            let bytes = Array(name.utf8)
            return !bytes.isEmpty && !bytes.contains(UInt8(ascii: "/")) && !bytes.contains(UInt8(ascii: "\\"))
                && bytes != [0x2E] && bytes != [0x2E, 0x2E] && !bytes.contains(0)
        }
        func hasPrefix(_ text: String, _ prefix: String) -> Bool { text.utf8.starts(with: prefix.utf8) }
        func checkJob(_ job: V1Job) throws {
            try fuzzCheck(job.id.isEmpty || hasPrefix(job.id, V1Codec.idPrefix), "job id \(job.id)")
            try fuzzCheck(job.parents.allSatisfy { hasPrefix($0, V1Codec.idPrefix) }, "parents \(job.parents)")
            try fuzzCheck((0 ... 65_535).contains(job.port), "port \(job.port)")
            switch job.kind {
            case .runPayload, .deployPayload:
                try fuzzCheck(plainName(job.file), "file \(job.file)")
            case .runArchive, .startArchiveService:
                let parts = job.file.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).map(Array.init)
                try fuzzCheck(parts.count >= 2 && plainName(String(decoding: parts[0], as: UTF8.self))
                              && !parts.dropFirst().contains([0x2E, 0x2E]) && !parts[1].isEmpty, "archive entry \(job.file)")
            }
        }
        switch request {
        case .submitDag(let jobs):
            try fuzzCheck(!jobs.isEmpty, "an empty DAG")
            for job in jobs { try checkJob(job) }
        case .submitJob(let job):
            try checkJob(job)
        case .uploadAsset(let name, _), .fetchAsset(let name), .deployScript(let name, _), .run(let name, _):
            try fuzzCheck(plainName(name), "file name \(name)")
        case .deploy(let file, let port, _):
            try fuzzCheck(plainName(file) && (0 ... 65_535).contains(port), "deploy \(file) on \(port)")
        case .getJobStatus(let id), .getLogs(let id), .cancelJob(let id), .stop(let id), .kvGet(let id), .kvSmembers(let id):
            try fuzzCheck(!id.isEmpty, "an empty id or key")
        case .kvSet(let key, _), .kvSadd(let key, _):
            try fuzzCheck(!key.isEmpty, "an empty key")
        case .stats, .statsJSON, .cleanStats, .killWorker:
            break
        }
        return true
    }

    struct StreamResult: Equatable, CustomStringConvertible {
        var frames: [Frame] = []
        var error: FrameError?
        var buffered = 0
        /// A later `next()` threw another error than the first (errors must be sticky).
        var errorChanged = false
        var description: String { "\(frames.count) frames, error \(error.map { "\($0)" } ?? "none"), \(buffered) buffered" }
    }

    /// What a decoder gives when `feed` appends `bytes` to it (in whatever pieces), taking every
    /// frame it can after each append, as a connection does.
    static func decodeStream(_ bytes: [UInt8], limit: Int, feed: (inout Feeder) -> Void) -> StreamResult {
        var feeder = Feeder(decoder: FrameDecoder(maxPayload: limit))
        feed(&feeder)
        feeder.drain()
        return StreamResult(frames: feeder.frames, error: feeder.error, buffered: feeder.decoder.bufferedByteCount,
                            errorChanged: feeder.errorChanged)
    }

    /// Appends to a decoder and takes every frame it can after each append, as a connection does.
    struct Feeder {
        var decoder: FrameDecoder
        var frames: [Frame] = []
        var error: FrameError?
        var errorChanged = false

        mutating func append(contentsOf bytes: [UInt8]) {
            decoder.append(contentsOf: bytes)
            drain()
        }

        mutating func append(contentsOf bytes: some Collection<UInt8>) {
            decoder.append(contentsOf: bytes)
            drain()
        }

        mutating func append(_ bytes: UnsafeRawBufferPointer) {
            decoder.append(bytes)
            drain()
        }

        mutating func drain() {
            do {
                while let frame = try decoder.next() { frames.append(frame) }
            } catch {
                if decoder.error != error || (self.error != nil && self.error != error) { errorChanged = true }
                if self.error == nil { self.error = error }
            }
        }
    }
}

/// Inputs fuzzing found, kept as they were.
@Suite("Fuzzing regressions: protocol")
struct ProtocolFuzzRegressionTests {
    /// `contains("/")` compares Characters, and `/` followed by a combining mark (U+0301) is one
    /// Character: these names passed as plain file names and reached the file system as paths
    /// (`names/../<U+0301>x` leaves the store's names directory).
    @Test("v1 file names and archive entries are checked on bytes", arguments: [
        (UInt8(0x53), "../\u{301}x|AA=="), (0x53, "a/\u{301}|AA=="), (0x57, "..\\\u{301}|cA=="), (0x54, "../\u{301}"),
        (0x05, "../\u{301}w.py|8080|GPU"), (0x06, "../\u{301}w.py"),
        (0x03, "RUN_PAYLOAD|../\u{301}x.sh|a|ZWNobw==|GENERAL"), (0x03, "RUN_ARCHIVE|p.zip/../\u{301}x|a|GENERAL"),
        (0x03, "RUN_ARCHIVE|../\u{301}p.zip/x|a|GENERAL"), (0x03, "RUN_ARCHIVE|p.zip//\u{301}x|a|GENERAL"),
        (0x04, "a|RUN_ARCHIVE|p.zip/x/../\u{301}../y|a|GENERAL|1|0|[]"),
    ])
    func v1PathsOnBytes(opcode: UInt8, payload: String) {
        #expect(throws: V1Error.self) { try V1Codec.decode(opcode: opcode, payload: Array(payload.utf8)) }
    }

    @Test("the v1 codec passes combining marks on; the name rule (ASCII only) then refuses them, saying so")
    func combiningMarksInNames() throws {
        #expect(try V1Codec.decode(opcode: 0x53, payload: Array("e\u{301}te\u{301}.bin|AA==".utf8))
            == .uploadAsset(name: "e\u{301}te\u{301}.bin", base64: "AA=="))
        #expect(ArtifactInfo.problem(withName: "\u{301}x..")?.contains("must start with") == true)
        #expect(ArtifactInfo.problem(withName: "e\u{301}te.bin")?.contains("non-ASCII") == true)
    }

    @Test("artifact names and destinations are checked on bytes")
    func artifactPathsOnBytes() {
        for name in ["../\u{301}x", "a/\u{301}", "a\\\u{301}"] {
            #expect(ArtifactInfo.problem(withName: name) != nil, "\(name)")
        }
        for destination in ["../\u{301}x", "a/../\u{301}b", "/\u{301}abs"] {
            let ref = ArtifactRef(hash: String(repeating: "a", count: 64), size: 1, kind: .file, destination: destination)
            #expect(ref.problem != nil, "\(destination)")
        }
    }
}

extension ProtocolFuzzRegressionTests {
    /// U+0601 (a prepended concatenation mark) forms one Character with the comma after it, so
    /// a split on Characters kept `X؁,GPU` as one tag.
    @Test("capability tags split on every comma")
    func capabilityCommas() {
        #expect(Capabilities.parse(["x\u{601},gpu"]) == ["X\u{601}", "GPU"])
    }
}

/// A length or count field is checked against the bytes that remain before anything is
/// allocated for it: claiming 4 GiB fails at once. Peak virtual memory (which counts allocations
/// never touched) must not grow by anything near the claim.
@Suite("Huge length claims")
struct HugeClaimTests {
    static let limit = peakMemoryGrowthLimit

    @Test("a field claiming 4 GiB fails at once, naming the field")
    func namedFields() throws {
        let start = try #require(peakVirtualMemory())
        let claims: [(NativeOpcode, [UInt8], String)] = [
            (.getStatus, handPayload { $0.writeU32(.max) }, "jobId"),
            (.heartbeat, handPayload { $0.writeU32(.max) }, "running"),
            (.jobOutput, handPayload { $0.writeString("j"); $0.writeU32(1); $0.writeU8(OutputChannel.stdout.rawValue); $0.writeU32(.max) }, "bytes"),
            (.submit, handPayload { $0.writeU32(1); $0.writeString("x"); $0.writeU32(.max) }, "environment"),
        ]
        for (opcode, payload, field) in claims {
            let reason = malformedReason { () throws(ProtocolError) in try decode(opcode: opcode.rawValue, payload) }
            let named = reason.map { $0.contains("'\(field)'") && $0.contains("truncated") } ?? false
            #expect(named, "\(opcode): \(reason ?? "decoded")")
        }
        var decoder = FrameDecoder()
        decoder.append(contentsOf: [2, 0x30, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF])
        #expect(throws: FrameError.frameTooLarge(length: .max, limit: TitanProto.defaultMaxPayload)) { try decoder.next() }
        #expect(decoder.bufferedByteCount == 0)
        #expect(try #require(peakVirtualMemory()) - start < Self.limit)
    }

    @Test("every u32 of every sample set to a huge value decodes or fails at once")
    func everyField() throws {
        let start = try #require(peakVirtualMemory())
        for sample in Fixtures.smallSamples {
            let encoded = NativeCodec.encode(sample.envelope)
            let opcode = encoded[1]
            let original = Array(encoded.dropFirst(TitanProto.headerSize))
            guard original.count <= 1024, original.count >= 4 else { continue }
            for offset in 0 ... original.count - 4 {
                for value: UInt32 in [.max, 0x7FFF_FFFF, 0x0100_0000] {
                    var bytes = original
                    bytes.replaceSubrange(offset ..< offset + 4, with: [UInt8(value >> 24), UInt8(value >> 16 & 0xFF),
                                                                        UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)])
                    _ = try? NativeCodec.decode(Frame(opcode: opcode, payload: bytes))
                }
            }
        }
        #expect(try #require(peakVirtualMemory()) - start < Self.limit)
    }
}
