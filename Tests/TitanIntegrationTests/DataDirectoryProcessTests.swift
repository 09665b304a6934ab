import Foundation
import Testing
import TitanClient
import TitanProtocol

/// The data directory's guards with real `titan-node` processes: one master per directory, and
/// `--repair-journal` for a journal damaged in the middle.
@Suite(.serialized) struct DataDirectoryProcessTests {
    @Test func aSecondMasterOnTheSameDirectoryExitsNamingTheHolder() async throws {
        let data = try DurabilityTests.temporaryDirectory("locked")
        defer { try? FileManager.default.removeItem(atPath: data) }
        let first = try await NodeProcess(["--role", "master", "--port", "0", "--data-dir", data])
        #expect(first.port != nil, "\(first.firstLine)")

        let second = try await Tools.run("titan-node", ["--role", "master", "--port", "0", "--data-dir", data])
        #expect(second.status != 0)
        #expect(second.stderr.contains("data directory '\(data)' is in use by another master (pid \(first.pid)"), "\(second.stderr)")
        #expect(!second.stdout.contains("listening"), "\(second.stdout)")

        // The first is unaffected, and once it stops the directory is free.
        let client = try await DurabilityTests.connect("127.0.0.1:\(try #require(first.port))")
        _ = try await client.submit(JobSpec(command: ["true"]))
        await client.close()
        #expect(await first.terminate() == 0)
        let third = try await NodeProcess(["--role", "master", "--port", "0", "--data-dir", data])
        #expect(third.port != nil, "\(third.firstLine)")
        #expect(await third.terminate() == 0)
    }

    @Test func repairJournalKeepsEverythingButTheDamagedRecord() async throws {
        let data = try DurabilityTests.temporaryDirectory("repair")
        defer { try? FileManager.default.removeItem(atPath: data) }
        var master = try await NodeProcess(["--role", "master", "--port", "0", "--data-dir", data])
        var client = try await DurabilityTests.connect("127.0.0.1:\(try #require(master.port))")
        var ids: [String] = []
        for i in 1...6 {
            ids.append(try await client.submit(JobSpec(command: ["echo", i == 4 ? "victim" : "job\(i)"])))
            try await client.kvSet("key\(i)", Array("value\(i)".utf8))
        }
        await client.close()
        #expect(await master.terminate() == 0)

        // One flipped byte in the middle of the victim's record.
        let path = data + "/titan.aof"
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        var offset = 12
        var victim: Range<Int>?
        var index = 0
        while offset + 8 <= bytes.count {
            let length = bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int($1) }
            let record = offset..<(offset + 8 + length)
            if String(decoding: bytes[record], as: UTF8.self).contains("victim") {
                victim = record
                break
            }
            offset = record.upperBound
            index += 1
        }
        let damaged = try #require(victim)
        bytes[damaged.lowerBound + 8 + (damaged.count - 8) / 2] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: path))

        let refused = try await Tools.run("titan-node", ["--role", "master", "--port", "0", "--data-dir", data])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("record #\(index) at byte offset \(damaged.lowerBound)"), "\(refused.stderr)")
        #expect(refused.stderr.contains("--repair-journal"), "\(refused.stderr)")

        master = try await NodeProcess(["--role", "master", "--port", "0", "--data-dir", data, "--repair-journal"])
        let port = try #require(master.port, "\(master.firstLine)")
        // The report follows the announce line on stdout.
        let range = "dropped offset \(damaged.lowerBound), \(damaged.count) bytes (damaged: checksum mismatch)"
        try await waitUntil { master.child.stdout.contains(range) }
        #expect(master.child.stdout.contains("repaired \(path): kept"), "\(master.child.stdout)")
        let copies = try FileManager.default.contentsOfDirectory(atPath: data).filter { $0.hasPrefix("titan.aof.damaged-") }
        #expect(copies.count == 1)
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: data + "/" + (copies.first ?? "")))) == bytes)

        client = try await DurabilityTests.connect("127.0.0.1:\(port)")
        for (i, id) in ids.enumerated() {
            if i == 3 {
                await #expect(throws: (any Error).self) { _ = try await client.status(id) }
            } else {
                #expect(try await client.status(id).spec.command == ["echo", "job\(i + 1)"])
            }
            #expect(try await client.kvGet("key\(i + 1)") == Array("value\(i + 1)".utf8))
        }
        await client.close()
        #expect(await master.terminate() == 0)
    }
}
