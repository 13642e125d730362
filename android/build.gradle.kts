// The Kaksik Android library: the generated Kotlin bindings and the Rust
// libraries (both made by build-rust.sh into build/rust/), and the
// platform pieces in src/main/kotlin.
plugins {
    id("com.android.library") version "8.7.3"
    id("org.jetbrains.kotlin.android") version "2.2.21"
}

android {
    namespace = "ee.kaksik.android"
    compileSdk = 35

    defaultConfig {
        // StrongBox and KeyGenParameterSpec.setIsStrongBoxBacked.
        minSdk = 28
        consumerProguardFiles("consumer-rules.pro")
    }

    sourceSets["main"].apply {
        kotlin.srcDir(layout.buildDirectory.dir("rust/kotlin"))
        jniLibs.srcDir(layout.buildDirectory.dir("rust/jniLibs"))
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    compilerOptions {
        jvmTarget.set(org.jetbrains.kotlin.gradle.dsl.JvmTarget.JVM_17)
    }
}

dependencies {
    // The generated bindings call the library through JNA (the AAR
    // carries JNA's own native part for each ABI).
    implementation("net.java.dev.jna:jna:5.19.1@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.11.0")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.11.0")
}
