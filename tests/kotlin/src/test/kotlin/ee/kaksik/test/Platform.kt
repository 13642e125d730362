// What a host-JVM app provides to Kaksik: a SecureStore over files and a
// DeviceKey over a java.security EC P-256 key. The Android shell does the
// same over the app's private files and the Android Keystore.
package ee.kaksik.test

import ee.kaksik.DeviceKey
import ee.kaksik.PlatformException
import ee.kaksik.SecureStore
import java.io.IOException
import java.math.BigInteger
import java.nio.ByteBuffer
import java.nio.channels.FileChannel
import java.nio.file.Files
import java.nio.file.NoSuchFileException
import java.nio.file.Path
import java.nio.file.StandardCopyOption
import java.nio.file.StandardOpenOption
import java.security.KeyPair
import java.security.KeyPairGenerator
import java.security.Signature
import java.security.interfaces.ECPublicKey
import java.security.spec.ECGenParameterSpec

/**
 * One file per key in [dir]. A write goes to a temporary file that is
 * flushed to the disk and then renamed over the old one, so a crash
 * leaves the old value or the new one. Temporary names start with a dot,
 * which no store key does.
 */
class FileStore(private val dir: Path) : SecureStore {
    init {
        Files.createDirectories(dir)
    }

    override fun get(key: String): ByteArray? =
        try {
            Files.readAllBytes(dir.resolve(key))
        } catch (e: NoSuchFileException) {
            null
        } catch (e: IOException) {
            throw PlatformException.Failed("cannot read $key: ${e.javaClass.simpleName}")
        }

    override fun put(key: String, value: ByteArray) {
        try {
            val temp = Files.createTempFile(dir, ".tmp-", null)
            FileChannel.open(temp, StandardOpenOption.WRITE).use { channel ->
                val buffer = ByteBuffer.wrap(value)
                while (buffer.hasRemaining()) channel.write(buffer)
                channel.force(true)
            }
            Files.move(
                temp,
                dir.resolve(key),
                StandardCopyOption.ATOMIC_MOVE,
                StandardCopyOption.REPLACE_EXISTING,
            )
        } catch (e: IOException) {
            throw PlatformException.Failed("cannot write $key: ${e.javaClass.simpleName}")
        }
    }

    override fun delete(key: String) {
        try {
            Files.deleteIfExists(dir.resolve(key))
        } catch (e: IOException) {
            throw PlatformException.Failed("cannot delete $key: ${e.javaClass.simpleName}")
        }
    }
}

/**
 * A P-256 key from the JVM's own provider, as the Android Keystore would
 * give one: the public key exported as a SEC1 uncompressed point,
 * signatures `SHA256withECDSA` (ASN.1 DER), exactly the encodings the
 * core expects.
 */
class JvmDeviceKey(private val keyPair: KeyPair = generate()) : DeviceKey {
    override fun publicKey(): ByteArray {
        val point = (keyPair.public as ECPublicKey).w
        return byteArrayOf(0x04) + fixed32(point.affineX) + fixed32(point.affineY)
    }

    override fun sign(message: ByteArray): ByteArray =
        Signature.getInstance("SHA256withECDSA").run {
            initSign(keyPair.private)
            update(message)
            sign()
        }

    companion object {
        fun generate(): KeyPair =
            KeyPairGenerator.getInstance("EC").run {
                initialize(ECGenParameterSpec("secp256r1"))
                generateKeyPair()
            }

        /** A coordinate as exactly 32 big-endian bytes. */
        private fun fixed32(value: BigInteger): ByteArray {
            val bytes = value.toByteArray().dropWhile { it == 0.toByte() }.toByteArray()
            require(bytes.size <= 32) { "not a P-256 coordinate" }
            return ByteArray(32 - bytes.size) + bytes
        }
    }
}
