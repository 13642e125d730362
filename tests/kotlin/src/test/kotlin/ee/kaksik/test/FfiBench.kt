// The cost of one FFI call round trip from Kotlin (BENCHMARKS.md, "FFI"):
// not a test, no threshold; it prints what it measured.
//
//   mvn -B -q -f tests/kotlin/pom.xml -Pbench test-compile exec:java
//
// Two calls on a registered account home: `coreVersion()`, a synchronous
// call that returns a short string (the crossing alone), and `status()`,
// which reads the account record through the Kotlin FileStore (a foreign
// callback) and returns it with its certificates as a record.
package ee.kaksik.test

import ee.kaksik.coreVersion
import kotlinx.coroutines.runBlocking

private const val BATCHES = 21

/** Median over [BATCHES] batches of the time per call, in microseconds. */
private fun medianMicros(callsPerBatch: Int, call: () -> Unit): Double {
    repeat(callsPerBatch * 2) { call() } // warm-up: JIT, caches
    val perCall =
        (1..BATCHES).map {
            val start = System.nanoTime()
            repeat(callsPerBatch) { call() }
            (System.nanoTime() - start) / 1000.0 / callsPerBatch
        }.sorted()
    return perCall[BATCHES / 2]
}

fun main() {
    KaksikServer().use { server ->
        Phone(server, server.tempDir("bench")).use { phone ->
            runBlocking { phone.register(MARI) }
            val version = medianMicros(20_000) { coreVersion() }
            val status = medianMicros(2_000) { phone.authenticator.status() }
            println("kotlin coreVersion(): %.2f µs per call (median of %d batches)".format(version, BATCHES))
            println("kotlin status():      %.2f µs per call (median of %d batches)".format(status, BATCHES))
        }
    }
}
