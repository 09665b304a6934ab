import TitanTestSupport
import Testing
import TitanProtocol

@Suite("NativeCodec round trips")
struct NativeCodecRoundTripTests {
    @Test("every sample decodes to itself and re-encodes to the same bytes", arguments: Fixtures.samples)
    func roundTrip(_ sample: Sample) throws {
        let bytes = NativeCodec.encode(sample.envelope)
        var decoder = FrameDecoder()
        decoder.append(contentsOf: bytes)
        let frame = try #require(try decoder.next())
        #expect(try decoder.next() == nil)
        #expect(decoder.bufferedByteCount == 0)
        #expect(frame.version == TitanProto.nativeVersion)
        #expect(frame.opcode == NativeCodec.opcode(of: sample.envelope.message))
        #expect(frame.flags == 0)
        #expect(frame.payload.count == bytes.count - TitanProto.headerSize)
        let decoded = try NativeCodec.decode(frame)
        #expect(decoded == sample.envelope)
        #expect(NativeCodec.encode(decoded) == bytes)
        #expect(frame.encoded() == bytes)
    }

    @Test("every Message case has a sample and every opcode is used")
    func everyCaseCovered() {
        let used = Set(Fixtures.samples.map { NativeCodec.opcode(of: $0.envelope.message) })
        #expect(used == Set(NativeOpcode.allCases.map(\.rawValue)))
        #expect(NativeOpcode.allCases.count == 65)
    }

    @Test("opcodes are grouped by direction and named")
    func opcodeTable() {
        for opcode in NativeOpcode.allCases {
            #expect(NativeCodec.name(ofOpcode: opcode.rawValue) == opcode.name)
        }
        let groups: [(ClosedRange<UInt8>, [Message])] = [
            (0x01 ... 0x0F, [.ok, .error(.badFrame, ""), .ping, .pong]),
            (0x10 ... 0x1F, [.register(Registration(workerId: "", name: "", capabilities: [], slots: 0, permanent: false)),
                             .heartbeat(running: []),
                             .jobOutput(Fixtures.ref, .stdout, []), .jobFinished(Fixtures.ref, JobResult())]),
            (0x20 ... 0x2F, [.registered(workerId: "", heartbeatIntervalMs: 0, masterId: ""),
                             .dispatch(Dispatch(jobId: "", attempt: 0, spec: Fixtures.minimalSpec)),
                             .kill(Fixtures.ref), .ackFinished(Fixtures.ref)]),
            (0x30 ... 0x3F, [.submit(Fixtures.minimalSpec, follow: false), .getStatus(jobId: ""), .listWorkers,
                             .listJobs(limit: 0), .subscribe(jobId: "", logs: false), .unsubscribe(jobId: ""),
                             .cancel(jobId: ""), .getLogs(jobId: "")]),
            (0x40 ... 0x4F, [.submitted(jobId: ""), .status(Fixtures.pendingInfo), .workers([]), .jobs([]),
                             .logs(jobId: "", []), .event(JobEvent(jobId: "", state: .pending, attempt: 0, workerId: "")),
                             .output(jobId: "", .stdout, [])]),
        ]
        for (range, messages) in groups {
            for message in messages {
                #expect(range.contains(NativeCodec.opcode(of: message)), "\(message)")
            }
        }
        #expect(NativeCodec.opcode(of: .submit(Fixtures.minimalSpec, follow: false)) == 0x30)
        #expect(NativeCodec.name(ofOpcode: 0x30) == "submit")
        #expect(NativeCodec.name(ofOpcode: 0x00) == nil)
        #expect(NativeCodec.name(ofOpcode: 0xFF) == nil)
    }

    @Test("wire layout of a small message")
    func wireLayout() {
        let bytes = NativeCodec.encode(Envelope(requestId: 0x0102_0304, message: .subscribe(jobId: "é|", logs: true)),
                                       flags: 0x80)
        #expect(bytes == [2, 0x34, 0x80, 0, 0, 0, 0, 12,
                          1, 2, 3, 4,
                          0, 0, 0, 3, 0xC3, 0xA9, 0x7C,
                          1])
        let empty = NativeCodec.encode(Envelope(requestId: 0, message: .ping))
        #expect(empty == [2, 0x03, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0])
    }

    @Test("encode(into:) appends complete frames after existing bytes")
    func encodeInto() throws {
        var buffer: [UInt8] = [0xAA, 0xBB]
        for sample in Fixtures.samples {
            NativeCodec.encode(sample.envelope, into: &buffer)
        }
        #expect(Array(buffer.prefix(2)) == [0xAA, 0xBB])
        let expected = Fixtures.samples.flatMap { NativeCodec.encode($0.envelope) }
        #expect(Array(buffer.dropFirst(2)) == expected)

        var flagged: [UInt8] = []
        NativeCodec.encode(Envelope(requestId: 1, message: .ok), flags: 0x5A, into: &flagged)
        #expect(flagged == NativeCodec.encode(Envelope(requestId: 1, message: .ok), flags: 0x5A))
        #expect(flagged[2] == 0x5A)
    }

    @Test("flags are carried by the frame and ignored by decode")
    func flags() throws {
        let envelope = Envelope(requestId: 9, message: .cancel(jobId: "j"))
        var decoder = FrameDecoder()
        decoder.append(contentsOf: NativeCodec.encode(envelope, flags: 0xFF))
        let frame = try #require(try decoder.next())
        #expect(frame.flags == 0xFF)
        #expect(try NativeCodec.decode(frame) == envelope)
    }

    @Test("dictionaries encode identically whatever their insertion order")
    func deterministicEnvironment() {
        let pairs = (0 ..< 200).map { ("KEY_\($0 * 7919 % 200)", "value \($0)") }
        var forward: [String: String] = [:]
        for (key, value) in pairs { forward[key] = value }
        var backward: [String: String] = [:]
        for (key, value) in pairs.reversed() { backward[key] = value }
        var rng = SplitMix64(seed: 42)
        var mixed: [String: String] = [:]
        mixed.reserveCapacity(1000)
        for (key, value) in pairs.shuffled(using: &rng) { mixed[key] = value }
        let encoded = [forward, backward, mixed].map {
            NativeCodec.encode(Envelope(requestId: 1, message: .submit(JobSpec(command: ["x"], environment: $0), follow: false)))
        }
        #expect(encoded[0] == encoded[1])
        #expect(encoded[0] == encoded[2])
    }
}
