import Foundation
import SaMDCrypto
import SaMDEnvelope
import SaMDKeys
import Synchronization
import Testing

@Suite("Subject-key cache: bounded by time, uses and capacity; validity checked at every use")
struct SubjectKeyCacheTests {
    /// A clock the test moves.
    final class ManualClock: Sendable {
        let base = ContinuousClock.now
        let offset = Mutex(Duration.zero)
        func advance(_ by: Duration) { self.offset.withLock { $0 += by } }
        var now: ContinuousClock.Instant { self.base.advanced(by: self.offset.withLock { $0 }) }
    }

    let key: KeyIdentifier

    init() throws { self.key = try KeyIdentifier(name: "s-00112233445566778899aabbccddeeff", version: 1) }

    func material(_ byte: UInt8) throws -> SecureBytes { try SecureBytes(copying: [UInt8](repeating: byte, count: 32)) }

    @Test("a sealing key inserted is served for sealing and opening, with its identifier and bytes")
    func hit() throws {
        let cache = SubjectKeyCache()
        cache.insertSealingKey(self.key, try self.material(7), validity: [1, 2])
        guard
            case .keyEncryptionKey(let identifier, let material) = cache.sealingKey(
                forSubjectKeyNamed: self.key.name, validity: [1, 2])
        else {
            Issue.record("no sealing key")
            return
        }
        #expect(identifier == self.key)
        #expect(material.constantTimeEquals([UInt8](repeating: 7, count: 32)))
        #expect(
            cache.openingKey(for: self.key, validity: [1, 2])?.constantTimeEquals([UInt8](repeating: 7, count: 32))
                == true)
        #expect(cache.openingKey(for: try KeyIdentifier(name: self.key.name, version: 2), validity: [1, 2]) == nil)
        #expect(cache.statistics.hits == 2 && cache.statistics.misses == 1 && cache.statistics.evictions == 0)
    }

    @Test("an entry expires after its time to live")
    func timeToLive() throws {
        let clock = ManualClock()
        let cache = SubjectKeyCache(
            policy: .init(capacity: 10, timeToLive: .seconds(60), maximumUses: 1_000), clock: { clock.now })
        cache.insertSealingKey(self.key, try self.material(1), validity: [])
        clock.advance(.seconds(59))
        #expect(cache.sealingKey(forSubjectKeyNamed: self.key.name, validity: []) != nil)
        clock.advance(.seconds(1))
        #expect(cache.sealingKey(forSubjectKeyNamed: self.key.name, validity: []) == nil)
        #expect(cache.openingKey(for: self.key, validity: []) == nil)
        #expect(cache.count == 0)
    }

    @Test("an entry serves at most its maximum number of uses")
    func maximumUses() throws {
        let cache = SubjectKeyCache(policy: .init(capacity: 10, timeToLive: .seconds(60), maximumUses: 3))
        cache.insertSealingKey(self.key, try self.material(1), validity: [])
        let served = (0..<5).filter { _ in cache.sealingKey(forSubjectKeyNamed: self.key.name, validity: []) != nil }
        #expect(served.count == 3)
        #expect(cache.statistics.hits == 3)
        #expect(cache.statistics.misses == 2)
    }

    @Test("a changed validity (the subject's file replaced by another process) is a miss and drops the entry")
    func validity() throws {
        let cache = SubjectKeyCache()
        cache.insertSealingKey(self.key, try self.material(1), validity: [10, 20, 30])
        #expect(cache.sealingKey(forSubjectKeyNamed: self.key.name, validity: [10, 20, 31]) == nil)
        #expect(cache.sealingKey(forSubjectKeyNamed: self.key.name, validity: [10, 20, 30]) == nil)
    }

    @Test("removing a subject key drops its sealing and every opening version; removeAll drops everything")
    func removal() throws {
        let cache = SubjectKeyCache()
        let other = try KeyIdentifier(name: "s-ffeeddccbbaa99887766554433221100", version: 1)
        cache.insertSealingKey(self.key, try self.material(1), validity: [])
        cache.insertOpeningKey(try KeyIdentifier(name: self.key.name, version: 2), try self.material(2), validity: [])
        cache.insertSealingKey(other, try self.material(3), validity: [])
        cache.removeSubjectKey(named: self.key.name)
        #expect(cache.sealingKey(forSubjectKeyNamed: self.key.name, validity: []) == nil)
        #expect(cache.openingKey(for: try KeyIdentifier(name: self.key.name, version: 2), validity: []) == nil)
        #expect(cache.sealingKey(forSubjectKeyNamed: other.name, validity: []) != nil)
        cache.removeAll()
        #expect(cache.count == 0)
        #expect(cache.sealingKey(forSubjectKeyNamed: other.name, validity: []) == nil)
    }

    @Test("a full cache drops the oldest entries first and never holds more than its capacity")
    func capacity() throws {
        let cache = SubjectKeyCache(policy: .init(capacity: 8, timeToLive: .seconds(60), maximumUses: 100))
        let names = (0..<20).map { String(format: "s-%032x", $0) }
        for (index, name) in names.enumerated() {
            cache.insertSealingKey(
                try KeyIdentifier(name: name, version: 1), try self.material(UInt8(index)), validity: [])
            #expect(cache.count <= 16)
        }
        #expect(cache.sealingKey(forSubjectKeyNamed: names.last!, validity: []) != nil)
        #expect(cache.sealingKey(forSubjectKeyNamed: names.first!, validity: []) == nil)
    }

    @Test("a disabled cache holds nothing")
    func disabled() throws {
        let cache = SubjectKeyCache(policy: .disabled)
        cache.insertSealingKey(self.key, try self.material(1), validity: [])
        #expect(cache.count == 0)
        #expect(cache.sealingKey(forSubjectKeyNamed: self.key.name, validity: []) == nil)
    }

    @Test("concurrent uses count exactly: uses never exceed the bound")
    func concurrent() async throws {
        let cache = SubjectKeyCache(policy: .init(capacity: 10, timeToLive: .seconds(60), maximumUses: 500))
        cache.insertSealingKey(self.key, try self.material(1), validity: [])
        let served = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    (0..<200).filter { _ in cache.sealingKey(forSubjectKeyNamed: self.key.name, validity: []) != nil }
                        .count
                }
            }
            return await group.reduce(0, +)
        }
        #expect(served == 500)
        #expect(cache.statistics.hits == 500)
        #expect(cache.statistics.misses == 1_100)
    }
}
