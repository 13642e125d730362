// What the app's own code (the foreign traits) does to a call: its
// failures come back as typed Kotlin exceptions, never a crash, and the
// log sink receives the library's events.
package ee.kaksik.test

import ee.kaksik.Authenticator
import ee.kaksik.ClientConfig
import ee.kaksik.DeviceKey
import ee.kaksik.KaksikException
import ee.kaksik.LocalStatus
import ee.kaksik.LogLevel
import ee.kaksik.LogSink
import ee.kaksik.PlatformException
import ee.kaksik.SecureStore
import ee.kaksik.coreVersion
import ee.kaksik.setLogSink
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.assertThrows
import java.io.IOException
import java.util.concurrent.CopyOnWriteArrayList

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class PlatformTest {
    private lateinit var server: KaksikServer

    @BeforeAll
    fun start() {
        server = KaksikServer()
    }

    @AfterAll
    fun stop() = server.close()

    private fun config() = ClientConfig(server.url, server.spkiPin)

    /** A store whose every call throws [failure]. */
    private class BrokenStore(private val failure: () -> Exception) : SecureStore {
        override fun get(key: String): ByteArray? = throw failure()
        override fun put(key: String, value: ByteArray) = throw failure()
        override fun delete(key: String) = throw failure()
    }

    @Test
    fun `a store that throws its PlatformException surfaces as a Storage error`() {
        val store = BrokenStore { PlatformException.Failed("the keychain is locked") }
        Authenticator(config(), store, JvmDeviceKey()).use { authenticator ->
            val error = assertThrows<KaksikException.Storage> { authenticator.status() }
            assertTrue(error.reason.contains("the keychain is locked"), error.reason)
        }
    }

    @Test
    fun `a store that throws anything else surfaces as a Storage error too`() {
        val store = BrokenStore { IOException("the disk is gone") }
        Authenticator(config(), store, JvmDeviceKey()).use { authenticator ->
            val error = assertThrows<KaksikException.Storage> { authenticator.status() }
            assertTrue(error.reason.contains("the disk is gone"), error.reason)
        }
    }

    @Test
    fun `a device key in the X509 encoding is refused when the authenticator is made`() {
        val keyPair = JvmDeviceKey.generate()
        val x509 = object : DeviceKey {
            override fun publicKey(): ByteArray = keyPair.public.encoded
            override fun sign(message: ByteArray): ByteArray = error("never called")
        }
        val store = FileStore(server.tempDir("x509"))
        assertThrows<KaksikException.DeviceKey> { Authenticator(config(), store, x509) }
    }

    @Test
    fun `a raw r-s signature is refused before it is sent, naming DER`() {
        val real = JvmDeviceKey()
        val raw = object : DeviceKey {
            override fun publicKey(): ByteArray = real.publicKey()
            override fun sign(message: ByteArray): ByteArray = ByteArray(64) { 7 }
        }
        Authenticator(config(), FileStore(server.tempDir("raw")), raw).use { authenticator ->
            val error = assertThrows<KaksikException.DeviceKey> {
                runBlocking { authenticator.startRegistration("K7Q2-M9XP") }
            }
            assertTrue(error.reason.contains("DER"), error.reason)
            assertEquals(LocalStatus.NotRegistered, authenticator.status())
        }
    }

    @Test
    fun `the log sink receives the library's events`() {
        val lines = CopyOnWriteArrayList<Triple<LogLevel, String, String>>()
        setLogSink(
            object : LogSink {
                override fun log(level: LogLevel, target: String, message: String) {
                    lines.add(Triple(level, target, message))
                }
            },
            LogLevel.DEBUG,
        )
        Authenticator(config(), FileStore(server.tempDir("log")), JvmDeviceKey()).close()
        val created = lines.filter { it.third.contains("authenticator created") }
        assertEquals(1, created.size, "$lines")
        assertEquals(LogLevel.DEBUG, created.single().first)
        assertEquals("kaksik_ffi::authenticator", created.single().second)
        assertTrue(coreVersion().isNotEmpty())
    }
}
