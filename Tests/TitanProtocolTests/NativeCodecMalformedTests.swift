import TitanTestSupport
import Testing
import TitanProtocol

@Suite("NativeCodec malformed payloads")
struct NativeCodecMalformedTests {
    @Test("every truncation of a valid payload is malformed", arguments: Fixtures.samples)
    func truncations(_ sample: Sample) {
        let full = payload(of: sample.envelope)
        let opcode = NativeCodec.opcode(of: sample.envelope.message)
        var cuts = Array(0 ..< full.count)
        if full.count > 4096 {
            // Big payloads: every cut near both ends, and a seeded sample in between.
            var rng = SplitMix64(seed: UInt64(full.count))
            cuts = Array(0 ..< 1024) + Array(full.count - 1024 ..< full.count)
                + (0 ..< 200).map { _ in Int.random(in: 1024 ..< full.count - 1024, using: &rng) }
        }
        for cut in cuts {
            let reason = malformedReason { () throws(ProtocolError) in try decode(opcode: opcode, Array(full[0 ..< cut])) }
            guard let reason else {
                Issue.record("cut at \(cut) of \(full.count) did not give malformed")
                return
            }
            #expect(reason.contains("truncated"), "cut \(cut): \(reason)")
        }
    }

    @Test("truncated submit names the message and the field")
    func truncatedSubmitDescription() throws {
        let spec = JobSpec(command: ["/bin/echo", "hello", "world"])
        let full = payload(of: Envelope(requestId: 5, message: .submit(spec, follow: false)))
        // requestId(4) + count(4) + "/bin/echo"(4+9) + "hello"(4+5) + 2 bytes of the third length
        let cut = 4 + 4 + 13 + 9 + 2
        do {
            _ = try decode(opcode: 0x30, Array(full[0 ..< cut]))
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .malformedPayload)
            let text = error.description
            #expect(text.contains("0x30"), "\(text)")
            #expect(text.contains("(submit)"), "\(text)")
            #expect(text.contains("'command[2]'"), "\(text)")
            #expect(text.contains("truncated"), "\(text)")
        }
    }

    @Test("nested field paths name the element")
    func nestedFieldPath() throws {
        let workers = [Fixtures.worker, Fixtures.worker]
        let full = payload(of: Envelope(requestId: 1, message: .workers(workers)))
        // Cut inside the second worker's second capability: id "w1", name "node-ü", count, "GPU", 3 bytes of "big|mem".
        let firstWorker = (full.count - 4 - 4) / 2
        let cut = 4 + 4 + firstWorker + (4 + 2) + (4 + 7) + 4 + (4 + 3) + (4 + 3)
        let reason = try #require(malformedReason { () throws(ProtocolError) in try decode(opcode: 0x42, Array(full[0 ..< cut])) })
        #expect(reason.contains("'workers[1].capabilities[1]'"), "\(reason)")
        // Cut right after a count that promises more than is left: reported on the array itself.
        let early = 4 + 4 + firstWorker + (4 + 2) + (4 + 7) + 4 + 2
        let reason3 = try #require(malformedReason { () throws(ProtocolError) in try decode(opcode: 0x42, Array(full[0 ..< early])) })
        #expect(reason3.contains("'workers[1].capabilities'"), "\(reason3)")

        let status = payload(of: Envelope(requestId: 1, message: .status(Fixtures.jobInfo)))
        // Cut inside the last fields: pendingReason (an empty string: its 4-byte length),
        // notBeforeMs (8 bytes), dagId (empty: 4), parents (empty: 4).
        let reason2 = try #require(malformedReason { () throws(ProtocolError) in try decode(opcode: 0x41, Array(status.dropLast(3))) })
        #expect(reason2.contains("'parents'"), "\(reason2)")
        let reason5 = try #require(malformedReason { () throws(ProtocolError) in try decode(opcode: 0x41, Array(status.dropLast(4 + 4 + 2))) })
        #expect(reason5.contains("'notBeforeMs'"), "\(reason5)")
        let reason4 = try #require(malformedReason { () throws(ProtocolError) in try decode(opcode: 0x41, Array(status.dropLast(4 + 4 + 8 + 2))) })
        #expect(reason4.contains("'pendingReason'"), "\(reason4)")
    }

    @Test("empty payload: the request id is missing")
    func emptyPayload() throws {
        let reason = try #require(malformedReason { () throws(ProtocolError) in try decode(opcode: 0x01, []) })
        #expect(reason.contains("'requestId'"))
    }

    @Test("unknown opcodes", arguments: [UInt8(0x00), 0x05, 0x0F, 0x12, 0x16, 0x25, 0x2F, 0x4E, 0x99, 0xFF])
    func unknownOpcode(opcode: UInt8) {
        #expect(throws: ProtocolError.unknownOpcode(opcode)) { try decode(opcode: opcode, [0, 0, 0, 1]) }
        #expect(ProtocolError.unknownOpcode(opcode).code == .unknownOpcode)
    }

    @Test("an unknown artifact kind is malformed, naming the field")
    func unknownArtifactKind() throws {
        let payload = handPayload { w in
            w.writeU32(1)
            w.writeString("a.zip")
            w.writeU8(9)
            w.writeU64(0)
            w.writeBytes([])
            w.writeBool(true)
        }
        let reason = try #require(malformedReason { () throws(ProtocolError) in try decode(opcode: 0x3E, payload) })
        #expect(reason.contains("'kind'") && reason.contains("unknown artifact kind 9"), "\(reason)")
    }

    @Test("unknown opcode description")
    func unknownOpcodeDescription() {
        #expect(ProtocolError.unknownOpcode(0x99).description == "unknown opcode 0x99")
        #expect(ProtocolError.unknownOpcode(0x05).description == "unknown opcode 0x05")
        #expect(ProtocolError.malformed(opcode: 0x99, reason: "x").description == "malformed payload for opcode 0x99: x")
    }

    @Test("invalid UTF-8 in a string names the field",
          arguments: [[UInt8(0xFF)], [0xC3], [0xED, 0xA0, 0x80], [0xC0, 0xAF], [0x61, 0x80, 0x62], [0xF4, 0x90, 0x80, 0x80],
                      Array("abcdefgh".utf8) + [0xFF], Array("abcdefghijklmnop".utf8) + [0xC3, 0x78],
                      Array("ünïcödé".utf8) + [0xE2, 0x82]])
    func invalidUTF8(bad: [UInt8]) throws {
        let bytes = handPayload { w in
            w.writeCount(3)
            w.writeString("ok")
            w.writeCount(bad.count)
            for byte in bad { w.writeU8(byte) }
            w.writeString("after")
            w.writeStringDictionary([:])
            w.writeString("")
            w.writeStringArray([])
            w.writeI32(0)
            w.writeString("")
            w.writeBool(false)
        }
        do {
            _ = try decode(opcode: 0x30, bytes)
            Issue.record("expected malformed")
        } catch {
            #expect(error.description.contains("'command[1]'"), "\(error)")
            #expect(error.description.contains("UTF-8"), "\(error)")
        }
        // The same in a dictionary value and in a nested JobResult.
        let env = handPayload { w in
            w.writeStringArray(["x"])
            w.writeCount(1)
            w.writeString("KEY")
            w.writeCount(bad.count)
            for byte in bad { w.writeU8(byte) }
        }
        let reason = try #require(malformedReason { () throws(ProtocolError) in try decode(opcode: 0x30, env) })
        #expect(reason.contains("'environment[KEY]'") && reason.contains("UTF-8"), "\(reason)")

        let finished = handPayload { w in
            w.writeString("job")
            w.writeU32(1)
            w.writeOptionalI32(0)
            w.writeOptionalI32(nil)
            w.writeU8(1)
            w.writeCount(bad.count)
            for byte in bad { w.writeU8(byte) }
        }
        let reason2 = try #require(malformedReason { () throws(ProtocolError) in try decode(opcode: 0x14, finished) })
        #expect(reason2.contains("'result.error'") && reason2.contains("UTF-8"), "\(reason2)")
    }

    @Test("absurd counts fail fast without allocating")
    func absurdCounts() throws {
        // A 4-billion element array in a tiny payload.
        let heartbeat = handPayload { w in
            w.writeU32(0xFFFF_FFFF)
            w.writeU64(0)
        }
        let r1 = try #require(malformedReason { () throws(ProtocolError) in try decode(opcode: 0x11, heartbeat) })
        #expect(r1.contains("'running'") && r1.contains("4294967295"), "\(r1)")

        let jobs = handPayload { w in w.writeU32(4_000_000_000) }
        let r2 = try #require(malformedReason { () throws(ProtocolError) in try decode(opcode: 0x43, jobs) })
        #expect(r2.contains("'jobs'"), "\(r2)")

        // Each element needs several bytes: a count that fits the bytes but not the elements fails too.
        let workers = handPayload { w in
            w.writeU32(10)
            for _ in 0 ..< 40 { w.writeU8(0) }
        }
        let r3 = try #require(malformedReason { () throws(ProtocolError) in try decode(opcode: 0x42, workers) })
        #expect(r3.contains("'workers'"), "\(r3)")

        let string = handPayload { w in
            w.writeU32(0xFFFF_FFF0)
            w.writeU32(0)
        }
        let r4 = try #require(malformedReason { () throws(ProtocolError) in try decode(opcode: 0x31, string) })
        #expect(r4.contains("'jobId'"), "\(r4)")

        let bytes = handPayload { w in
            w.writeString("j")
            w.writeU8(1)
            w.writeU32(0x7FFF_FFFF)
        }
        let r5 = try #require(malformedReason { () throws(ProtocolError) in try decode(opcode: 0x46, bytes) })
        #expect(r5.contains("'bytes'"), "\(r5)")

        let env = handPayload { w in
            w.writeStringArray([])
            w.writeU32(0xFFFF_FFFF)
        }
        let r6 = try #require(malformedReason { () throws(ProtocolError) in try decode(opcode: 0x30, env) })
        #expect(r6.contains("'environment'"), "\(r6)")
    }

    @Test("unknown enum raw values are malformed")
    func badEnums() throws {
        let stream = handPayload { w in
            w.writeString("j")
            w.writeU32(1)
            w.writeU8(3)
            w.writeBytes([1])
        }
        let r1 = try #require(malformedReason { () throws(ProtocolError) in try decode(opcode: 0x13, stream) })
        #expect(r1.contains("'stream'") && r1.contains("3"), "\(r1)")

        let zeroStream = handPayload { w in
            w.writeString("j")
            w.writeU8(0)
            w.writeBytes([])
        }
        let r2 = try #require(malformedReason { () throws(ProtocolError) in try decode(opcode: 0x46, zeroStream) })
        #expect(r2.contains("'stream'"), "\(r2)")

        let state = handPayload { w in
            w.writeString("j")
            w.writeU8(6)
            w.writeU32(0)
            w.writeString("")
            w.writeU8(0)
        }
        let r3 = try #require(malformedReason { () throws(ProtocolError) in try decode(opcode: 0x45, state) })
        #expect(r3.contains("'state'") && r3.contains("job state"), "\(r3)")

        let code = handPayload { w in
            w.writeU16(7)
            w.writeString("boom")
        }
        let r4 = try #require(malformedReason { () throws(ProtocolError) in try decode(opcode: 0x02, code) })
        #expect(r4.contains("'code'") && r4.contains("7"), "\(r4)")

        let chunk = handPayload { w in
            w.writeString("j")
            w.writeCount(2)
            w.writeU8(1)
            w.writeBytes([])
            w.writeU8(9)
            w.writeBytes([])
        }
        let r5 = try #require(malformedReason { () throws(ProtocolError) in try decode(opcode: 0x44, chunk) })
        #expect(r5.contains("'chunks[1].stream'"), "\(r5)")
    }

    @Test("bools and optional tags must be 0 or 1")
    func badBoolsAndTags() throws {
        var bytes = payload(of: Envelope(requestId: 1, message: .submit(JobSpec(command: ["x"]), follow: true)))
        bytes[bytes.count - 1] = 2
        let r1 = try #require(malformedReason { () throws(ProtocolError) in try decode(opcode: 0x30, bytes) })
        #expect(r1.contains("'follow'") && r1.contains("bool"), "\(r1)")

        var event = payload(of: Envelope(requestId: 1, message: .event(JobEvent(jobId: "", state: .pending, attempt: 0, workerId: ""))))
        event[event.count - 1] = 2
        let r2 = try #require(malformedReason { () throws(ProtocolError) in try decode(opcode: 0x45, event) })
        #expect(r2.contains("'result'") && r2.contains("optional"), "\(r2)")
    }

    @Test("trailing bytes are malformed", arguments: Fixtures.samples)
    func trailingBytes(_ sample: Sample) throws {
        let opcode = NativeCodec.opcode(of: sample.envelope.message)
        for extra in [[UInt8(0)], [0xFF, 0x7C], [UInt8](repeating: 0, count: 9)] {
            let bytes = payload(of: sample.envelope) + extra
            let reason = try #require(malformedReason { () throws(ProtocolError) in try decode(opcode: opcode, bytes) })
            #expect(reason.contains("trailing bytes") && reason.contains("\(extra.count)"), "\(reason)")
        }
    }

    @Test("a repeated environment key is malformed")
    func duplicateKey() throws {
        let bytes = handPayload { w in
            w.writeStringArray(["x"])
            w.writeCount(2)
            w.writeString("A")
            w.writeString("1")
            w.writeString("A")
            w.writeString("2")
            w.writeString("")
            w.writeStringArray([])
            w.writeI32(0)
            w.writeString("")
            w.writeBool(false)
        }
        let reason = try #require(malformedReason { () throws(ProtocolError) in try decode(opcode: 0x30, bytes) })
        #expect(reason.contains("'environment'") && reason.contains("duplicate"), "\(reason)")
    }
}
