import Testing
import TitanPolicy

@Suite("PortAllocator")
struct PortAllocatorTests {
    @Test("default range, rotating: a released port is not reused at once")
    func rotates() {
        var ports = PortAllocator()
        #expect(ports.range == 20_000...29_999)
        #expect(ports.allocate { _ in true } == 20_000)
        #expect(ports.allocate { _ in true } == 20_001)
        ports.release(20_000)
        #expect(ports.allocate { _ in true } == 20_002)
        #expect(ports.allocated == [20_001, 20_002])
    }

    @Test("skips ports in use by this worker's services and ports the probe rejects")
    func skips() {
        var ports = PortAllocator(range: 100...110)
        var probed: [Int] = []
        let port = ports.allocate(excluding: [100, 101]) { port in
            probed.append(port)
            return port != 102
        }
        #expect(port == 103)
        // The bind probe runs only for candidates not already known to be taken.
        #expect(probed == [102, 103])
    }

    @Test("wraps at the end of the range, skipping ports still allocated")
    func wraps() {
        var ports = PortAllocator(range: 100...102)
        #expect([ports.allocate { _ in true }, ports.allocate { _ in true }] == [100, 101])
        ports.release(100)
        #expect(ports.allocate { _ in true } == 102)
        #expect(ports.allocate { _ in true } == 100)
        #expect(ports.allocate { _ in true } == nil)
    }

    @Test("exhausted: nil, without probing allocated ports; a release makes one available again")
    func exhausted() {
        var ports = PortAllocator(range: 5_000...5_003)
        #expect(ports.allocate(excluding: [5_003]) { $0 != 5_001 } == 5_000)
        #expect(ports.allocate { $0 != 5_001 } == 5_002)
        var probes = 0
        #expect(ports.allocate(excluding: [5_003]) { _ in probes += 1; return false } == nil)
        #expect(probes == 1)
        ports.release(5_000)
        ports.release(4_000)
        #expect(ports.allocate(excluding: [5_003]) { $0 != 5_001 } == 5_000)
    }

    @Test("two services never get the same port, whatever the probe says")
    func neverTwice() {
        var ports = PortAllocator(range: 1...50)
        var seen = Set<Int>()
        while let port = ports.allocate(isFree: { $0 % 7 != 0 }) {
            #expect(seen.insert(port).inserted)
        }
        #expect(seen.count == 50 - 7)
        #expect(ports.allocated == seen)
    }

    @Test("a chosen first port: allocation starts there and wraps around the range")
    func startingAt() {
        var ports = PortAllocator(range: 100...104, startingAt: 103)
        var order: [Int] = []
        while let port = ports.allocate(isFree: { _ in true }) { order.append(port) }
        #expect(order == [103, 104, 100, 101, 102])
        var first = PortAllocator(range: 100...104, startingAt: 100)
        #expect(first.allocate { _ in true } == 100)
        var outside = PortAllocator(range: 100...104, startingAt: 7)
        #expect(outside.allocate { _ in true } == 100)
    }
}
