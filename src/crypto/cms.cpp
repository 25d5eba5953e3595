// Detached CMS signatures with an external signer (cms.hpp).
//
// How OpenSSL's CMS code reaches the callback: CMS_add1_signer wants an EVP_PKEY whose private
// operation it can call, and OpenSSL 3 has no public way to hand it a finished signature over the
// signed attributes. Two ways exist: an in-process provider (keymgmt + signature for RSA,
// OSSL_PROVIDER_add_builtin) or an RSA_METHOD whose rsa_sign is the callback. We use the
// RSA_METHOD: it is one function instead of some twenty provider entry points (import, match,
// export, gettable params, the signature context...), and OpenSSL 3 keeps such "foreign" RSA keys
// on its legacy code path on purpose (crypto/evp/p_lib.c detect_foreign_key), where RSA_sign()
// hands the method the hash and its NID: exactly the DigestInfo the card wants. The RSA_METHOD
// API is deprecated in 3.0, hence OPENSSL_SUPPRESS_DEPRECATED in this one file (before any
// OpenSSL header). If a later OpenSSL drops it, the provider is the replacement; the interface
// (DigestInfoSigner) stays.
#define OPENSSL_SUPPRESS_DEPRECATED  // RSA_METHOD: see above

#include "crypto/cms.hpp"

#include "crypto/digest.hpp"
#include "crypto/error.hpp"
#include "crypto/ossl.hpp"

#include <openssl/cms.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509_vfy.h>

#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <exception>
#include <functional>
#include <memory>

namespace jpki::crypto {
namespace {

using ossl::Deleter;
using Cms = std::unique_ptr<CMS_ContentInfo, Deleter<CMS_ContentInfo, CMS_ContentInfo_free>>;
using RsaMethod = std::unique_ptr<RSA_METHOD, Deleter<RSA_METHOD, RSA_meth_free>>;
using Rsa = std::unique_ptr<RSA, Deleter<RSA, RSA_free>>;
using Store = std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>>;
using StoreCtx = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX, X509_STORE_CTX_free>>;
struct FreeCertStack {
    void operator()(STACK_OF(X509) * certs) const noexcept { sk_X509_pop_free(certs, X509_free); }
};
using CertStack = std::unique_ptr<STACK_OF(X509), FreeCertStack>;

// What the RSA_METHOD's sign callback reaches through the method's app data.
struct SignerBinding {
    const DigestInfoSigner* sign = nullptr;
    std::exception_ptr failure;  // the callback's exception, rethrown after OpenSSL returns
};

// RSA_METHOD rsa_sign: OpenSSL's RSA_sign() hands over the hash and its digest NID.
int external_rsa_sign(int type, const unsigned char* m, unsigned int m_length, unsigned char* sigret,
                      unsigned int* siglen, const RSA* rsa) {
    auto* binding = static_cast<SignerBinding*>(RSA_meth_get0_app_data(RSA_get_method(rsa)));
    if (binding == nullptr) return 0;
    try {
        if (type != NID_sha256) throw Error("CMS signer: a digest other than SHA-256 was asked for");
        const Bytes info = digest_info(DigestAlgorithm::Sha256, ByteView(m, m_length));
        const Bytes signature = (*binding->sign)(info);
        const auto size = static_cast<std::size_t>(RSA_size(rsa));
        if (signature.size() != size)
            throw Error("CMS signer: the signature's length does not match the certificate's key");
        std::memcpy(sigret, signature.data(), size);
        *siglen = static_cast<unsigned int>(size);
        return 1;
    } catch (...) {
        // No exception may cross OpenSSL's C frames.
        binding->failure = std::current_exception();
        return 0;
    }
}

int checked_length(std::size_t size, const char* what) {
    if (size > static_cast<std::size_t>(INT_MAX)) throw Error(std::string(what) + ": larger than 2 GiB");
    return static_cast<int>(size);
}

// A fresh BIO over the content, at its start: each call gives a new one (the content is read
// twice, for the signature and for the check).
using ContentSource = std::function<ossl::Bio()>;

// Memory: an empty ByteView has data() == nullptr, which BIO_new_mem_buf refuses ("passed a null
// parameter", issue 8: signing an empty file), so empty content reads from a static empty buffer.
ContentSource memory_content(ByteView content) {
    return [content] {
        static constexpr char empty = 0;
        const void* data = content.empty() ? static_cast<const void*>(&empty) : content.data();
        ossl::Bio bio(BIO_new_mem_buf(data, checked_length(content.size(), "content")));
        if (!bio) throw Error("BIO_new_mem_buf");
        return bio;
    };
}

// A file: a descriptor BIO (BIO_NOCLOSE: the caller owns the descriptor), rewound first.
ContentSource file_content(int fd) {
    return [fd] {
        if (lseek(fd, 0, SEEK_SET) != 0) throw Error(std::string("rewinding the content: ") + std::strerror(errno));
        ossl::Bio bio(BIO_new_fd(fd, BIO_NOCLOSE));
        if (!bio) throw Error("BIO_new_fd");
        return bio;
    };
}

ossl::X509Ptr parse_certificate(Context& context, ByteView der) {
    X509* fresh = X509_new_ex(context.libctx(), nullptr);
    if (fresh == nullptr) throw Error("X509_new_ex");
    const unsigned char* p = der.data();
    // On failure d2i frees `fresh` itself.
    X509* parsed = d2i_X509(&fresh, &p, checked_length(der.size(), "certificate"));
    if (parsed == nullptr) throw Error("parsing a certificate");
    ossl::X509Ptr cert(parsed);
    if (p != der.data() + der.size()) throw Error("parsing a certificate: bytes after it");
    return cert;
}

Bytes certificate_der(X509* cert) {
    const int length = i2d_X509(cert, nullptr);
    if (length <= 0) throw Error("i2d_X509");
    Bytes der(static_cast<std::size_t>(length));
    unsigned char* p = der.data();
    if (i2d_X509(cert, &p) != length) throw Error("i2d_X509");
    return der;
}

ossl::Bn rsa_parameter(const EVP_PKEY* key, const char* name) {
    BIGNUM* value = nullptr;
    if (EVP_PKEY_get_bn_param(key, name, &value) != 1) throw Error("the signer certificate's key is not RSA");
    return ossl::Bn(value);
}

std::optional<std::chrono::system_clock::time_point> signing_time_of(CMS_SignerInfo* signer_info) {
    const int index = CMS_signed_get_attr_by_NID(signer_info, NID_pkcs9_signingTime, -1);
    if (index < 0) return std::nullopt;
    X509_ATTRIBUTE* attribute = CMS_signed_get_attr(signer_info, index);
    const ASN1_TYPE* value = X509_ATTRIBUTE_get0_type(attribute, 0);
    if (value == nullptr || (value->type != V_ASN1_UTCTIME && value->type != V_ASN1_GENERALIZEDTIME))
        return std::nullopt;
    std::tm tm{};
    if (ASN1_TIME_to_tm(value->value.utctime, &tm) != 1) {
        clear_errors();
        return std::nullopt;
    }
    return std::chrono::system_clock::from_time_t(timegm(&tm));
}

CmsVerification::CertificateProblem problem_of(int x509_error) {
    using P = CmsVerification::CertificateProblem;
    switch (x509_error) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        return P::UnknownIssuer;
    case X509_V_ERR_CERT_HAS_EXPIRED:
        return P::Expired;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return P::NotYetValid;
    default:
        return P::Other;
    }
}

}  // namespace

namespace {

Bytes sign_detached(Context& context, const ContentSource& content, const Certificate& signer,
                    const DigestInfoSigner& sign) {
    const ossl::X509Ptr cert = parse_certificate(context, signer.der());
    const EVP_PKEY* public_key = X509_get0_pubkey(cert.get());
    if (public_key == nullptr) throw Error("the signer certificate's public key");
    ossl::Bn n = rsa_parameter(public_key, OSSL_PKEY_PARAM_RSA_N);
    ossl::Bn e = rsa_parameter(public_key, OSSL_PKEY_PARAM_RSA_E);

    // Declared before the key, so the key (whose RSA refers to the method) goes first.
    SignerBinding binding;
    binding.sign = &sign;
    const RsaMethod method(RSA_meth_dup(RSA_PKCS1_OpenSSL()));
    if (!method || RSA_meth_set1_name(method.get(), "jpki external signer") != 1 ||
        RSA_meth_set_sign(method.get(), external_rsa_sign) != 1 || RSA_meth_set0_app_data(method.get(), &binding) != 1)
        throw Error("RSA_METHOD for the external signer");
    Rsa rsa(RSA_new());
    if (!rsa || RSA_set_method(rsa.get(), method.get()) != 1) throw Error("RSA_set_method");
    if (RSA_set0_key(rsa.get(), n.get(), e.get(), nullptr) != 1) throw Error("RSA_set0_key");
    (void)n.release();  // owned by rsa now
    (void)e.release();
    ossl::Pkey key(EVP_PKEY_new());
    // The method is set before the key is assigned: that marks the EVP_PKEY "foreign", so
    // OpenSSL signs through the method instead of exporting the key to a provider.
    if (!key || EVP_PKEY_assign(key.get(), EVP_PKEY_RSA, rsa.get()) != 1) throw Error("EVP_PKEY_assign");
    (void)rsa.release();  // owned by key now

    // CMS_NOSMIMECAP: the signed attributes are contentType, messageDigest and signingTime only.
    const unsigned int flags = CMS_DETACHED | CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP;
    const Cms cms(CMS_sign_ex(nullptr, nullptr, nullptr, nullptr, flags, context.libctx(), nullptr));
    if (!cms) throw Error("CMS_sign_ex");
    const ossl::Md sha256(EVP_MD_fetch(context.libctx(), "SHA2-256", nullptr));
    if (!sha256) throw Error("fetching SHA-256");
    if (CMS_add1_signer(cms.get(), cert.get(), key.get(), sha256.get(), flags) == nullptr)
        throw Error("CMS_add1_signer");
    const ossl::Bio data = content();
    if (CMS_final(cms.get(), data.get(), nullptr, flags) != 1) {
        if (binding.failure) {
            clear_errors();
            std::rethrow_exception(binding.failure);
        }
        throw Error("CMS signing");
    }
    // The signer's answer checked against the certificate before anyone sees the result: a card
    // whose key does not belong to the certificate read from it (or a signature of the wrong key
    // EF) must not produce a .p7s that fails for its recipient only.
    {
        const ossl::Bio again = content();
        const Store no_anchors(X509_STORE_new());
        if (!no_anchors) throw Error("allocating the CMS self-check");
        if (CMS_verify(cms.get(), nullptr, no_anchors.get(), again.get(), nullptr,
                       CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) != 1)
            throw Error("CMS signing: the signature does not verify with the signer certificate's public key");
    }
    const int length = i2d_CMS_ContentInfo(cms.get(), nullptr);
    if (length <= 0) throw Error("i2d_CMS_ContentInfo");
    Bytes der(static_cast<std::size_t>(length));
    unsigned char* p = der.data();
    if (i2d_CMS_ContentInfo(cms.get(), &p) != length) throw Error("i2d_CMS_ContentInfo");
    return der;
}

}  // namespace

std::vector<Bytes> certificates_from_pem(std::string_view pem) {
    const ossl::Bio bio(BIO_new_mem_buf(pem.data(), checked_length(pem.size(), "PEM")));
    if (!bio) throw Error("BIO_new_mem_buf");
    std::vector<Bytes> certificates;
    for (;;) {
        const ossl::X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
        if (!cert) {
            const unsigned long last = ERR_peek_last_error();
            if (ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE) {
                clear_errors();  // the end of the text
                break;
            }
            throw Error("reading a PEM certificate");
        }
        certificates.push_back(certificate_der(cert.get()));
    }
    return certificates;
}

namespace {

CmsVerification verify_detached(Context& context, const ContentSource& content, ByteView signature_der,
                                const std::vector<Bytes>& trusted_cas) {
    CmsVerification result;
    CMS_ContentInfo* fresh = CMS_ContentInfo_new_ex(context.libctx(), nullptr);
    if (fresh == nullptr) throw Error("CMS_ContentInfo_new_ex");
    const unsigned char* p = signature_der.data();
    CMS_ContentInfo* parsed = d2i_CMS_ContentInfo(&fresh, &p, checked_length(signature_der.size(), "signature"));
    if (parsed == nullptr) {
        clear_errors();
        result.detail = "not DER CMS";
        return result;
    }
    const Cms cms(parsed);
    if (p != signature_der.data() + signature_der.size()) {
        result.detail = "bytes after the CMS structure";
        return result;
    }
    if (OBJ_obj2nid(CMS_get0_type(cms.get())) != NID_pkcs7_signed) {
        result.detail = "not SignedData";
        return result;
    }
    STACK_OF(CMS_SignerInfo)* signer_infos = CMS_get0_SignerInfos(cms.get());
    if (signer_infos == nullptr || sk_CMS_SignerInfo_num(signer_infos) != 1) {
        result.detail = "not exactly one signer";
        return result;
    }
    CMS_SignerInfo* signer_info = sk_CMS_SignerInfo_value(signer_infos, 0);
    const CertStack certs(CMS_get1_certs(cms.get()));
    X509* signer = nullptr;
    for (int i = 0; certs && i < sk_X509_num(certs.get()); ++i)
        if (CMS_SignerInfo_cert_cmp(signer_info, sk_X509_value(certs.get(), i)) == 0) signer = sk_X509_value(certs.get(), i);
    if (signer == nullptr) {
        clear_errors();
        result.detail = "the signer's certificate is not included";
        return result;
    }
    result.signer_certificate = certificate_der(signer);
    result.signing_time = signing_time_of(signer_info);

    // 1. The signature over the signed attributes, and their messageDigest against the content.
    {
        const ossl::Bio data = content();
        const Store no_anchors(X509_STORE_new());
        if (!no_anchors) throw Error("allocating the CMS verification");
        if (CMS_verify(cms.get(), nullptr, no_anchors.get(), data.get(), nullptr,
                       CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) != 1) {
            clear_errors();
            result.outcome = CmsVerification::Outcome::ContentMismatch;
            return result;
        }
    }

    // 2. The signer's certificate up to one of the trusted CAs (no purpose: JPKI certificates
    // have no S/MIME extended key usage; no revocation: offline).
    const Store store(X509_STORE_new());
    if (!store) throw Error("X509_STORE_new");
    for (const Bytes& der : trusted_cas) {
        const ossl::X509Ptr ca = parse_certificate(context, der);
        if (X509_STORE_add_cert(store.get(), ca.get()) != 1) throw Error("X509_STORE_add_cert");
    }
    const StoreCtx verify(X509_STORE_CTX_new_ex(context.libctx(), nullptr));
    if (!verify || X509_STORE_CTX_init(verify.get(), store.get(), signer, certs.get()) != 1)
        throw Error("X509_STORE_CTX_init");
    if (X509_verify_cert(verify.get()) != 1) {
        const int error = X509_STORE_CTX_get_error(verify.get());
        clear_errors();
        result.outcome = CmsVerification::Outcome::CertificateInvalid;
        result.certificate_problem = problem_of(error);
        result.detail = X509_verify_cert_error_string(error);
        return result;
    }
    result.outcome = CmsVerification::Outcome::Valid;
    return result;
}

}  // namespace

Bytes cms_sign_detached(Context& context, ByteView content, const Certificate& signer, const DigestInfoSigner& sign) {
    return sign_detached(context, memory_content(content), signer, sign);
}

Bytes cms_sign_detached(Context& context, int content_fd, const Certificate& signer, const DigestInfoSigner& sign) {
    return sign_detached(context, file_content(content_fd), signer, sign);
}

CmsVerification cms_verify_detached(Context& context, ByteView content, ByteView signature_der,
                                    const std::vector<Bytes>& trusted_cas) {
    return verify_detached(context, memory_content(content), signature_der, trusted_cas);
}

CmsVerification cms_verify_detached(Context& context, int content_fd, ByteView signature_der,
                                    const std::vector<Bytes>& trusted_cas) {
    return verify_detached(context, file_content(content_fd), signature_der, trusted_cas);
}

}  // namespace jpki::crypto
