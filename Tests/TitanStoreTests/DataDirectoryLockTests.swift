import Glibc
import Testing
@testable import TitanStore

@Suite struct DataDirectoryLockTests {
    @Test func aSecondHolderIsRefusedWithTheDirectoryAndTheHoldersPid() throws {
        let scratch = Scratch()
        let first = try DataDirectoryLock(directory: scratch.directory)
        #expect(first.isHeld)
        #expect {
            try DataDirectoryLock(directory: scratch.directory)
        } throws: { error in
            guard case let .directoryInUse(directory, pid, since) = error as? StoreError else { return false }
            let message = "\(error)"
            return directory == scratch.directory && pid == getpid() && since?.hasSuffix("Z") == true
                && message.contains("data directory '\(scratch.directory)' is in use by another master (pid \(getpid())")
        }
        first.release()
        #expect(!first.isHeld)
        first.release()  // twice is harmless
        let second = try DataDirectoryLock(directory: scratch.directory)
        #expect(second.isHeld)
    }

    @Test func droppingTheLockReleasesIt() throws {
        let scratch = Scratch()
        do {
            _ = try DataDirectoryLock(directory: scratch.directory)
        }
        let again = try DataDirectoryLock(directory: scratch.directory)
        #expect(again.isHeld)
    }

    @Test func aDirectoryThatCannotHoldTheLockFileIsAnIOError() {
        let scratch = Scratch()
        #expect {
            try DataDirectoryLock(directory: scratch.directory + "/missing")
        } throws: { error in
            guard case .io(let path, "open", ENOENT) = error as? StoreError else { return false }
            return path == scratch.directory + "/missing/titan.lock"
        }
    }
}
