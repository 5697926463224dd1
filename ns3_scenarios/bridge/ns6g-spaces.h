// ns6g bridge: Gymnasium spaces as a scenario declares them, and DataView, the zero-copy view of one
// space's data in the shared-memory segment. Part of bridge/ns6g-bridge.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace ns6g
{

class Bridge;

enum class Dtype
{
    kBool,
    kInt8,
    kUInt8,
    kInt16,
    kUInt16,
    kInt32,
    kUInt32,
    kInt64,
    kUInt64,
    kFloat32,
    kFloat64,
};

/** numpy dtype string and size in bytes. */
inline const char*
DtypeName(Dtype d)
{
    switch (d)
    {
    case Dtype::kBool:
        return "bool";
    case Dtype::kInt8:
        return "int8";
    case Dtype::kUInt8:
        return "uint8";
    case Dtype::kInt16:
        return "int16";
    case Dtype::kUInt16:
        return "uint16";
    case Dtype::kInt32:
        return "int32";
    case Dtype::kUInt32:
        return "uint32";
    case Dtype::kInt64:
        return "int64";
    case Dtype::kUInt64:
        return "uint64";
    case Dtype::kFloat32:
        return "float32";
    case Dtype::kFloat64:
        return "float64";
    }
    return "?";
}

inline size_t
DtypeSize(Dtype d)
{
    switch (d)
    {
    case Dtype::kBool:
    case Dtype::kInt8:
    case Dtype::kUInt8:
        return 1;
    case Dtype::kInt16:
    case Dtype::kUInt16:
        return 2;
    case Dtype::kInt32:
    case Dtype::kUInt32:
    case Dtype::kFloat32:
        return 4;
    default:
        return 8;
    }
}

template <class T>
constexpr Dtype DtypeOf();
// clang-format off
template <> constexpr Dtype DtypeOf<bool>() { return Dtype::kBool; }
template <> constexpr Dtype DtypeOf<int8_t>() { return Dtype::kInt8; }
template <> constexpr Dtype DtypeOf<uint8_t>() { return Dtype::kUInt8; }
template <> constexpr Dtype DtypeOf<int16_t>() { return Dtype::kInt16; }
template <> constexpr Dtype DtypeOf<uint16_t>() { return Dtype::kUInt16; }
template <> constexpr Dtype DtypeOf<int32_t>() { return Dtype::kInt32; }
template <> constexpr Dtype DtypeOf<uint32_t>() { return Dtype::kUInt32; }
template <> constexpr Dtype DtypeOf<int64_t>() { return Dtype::kInt64; }
template <> constexpr Dtype DtypeOf<uint64_t>() { return Dtype::kUInt64; }
template <> constexpr Dtype DtypeOf<float>() { return Dtype::kFloat32; }
template <> constexpr Dtype DtypeOf<double>() { return Dtype::kFloat64; }
// clang-format on

/**
 * A Gymnasium space as the scenario declares it. Build with Box(), Discrete(), MultiDiscrete(),
 * MultiBinary() and Dict(). Storage in shared memory: Box as its dtype; Discrete as one int64;
 * MultiDiscrete as int64 with the shape of nvec; MultiBinary as int8.
 */
struct Space
{
    enum class Kind
    {
        kBox,
        kDiscrete,
        kMultiDiscrete,
        kMultiBinary,
        kDict,
    };

    Kind kind{Kind::kBox};
    Dtype dtype{Dtype::kFloat32};
    std::vector<int64_t> shape;
    std::vector<double> low, high; // Box: one value (uniform) or one per element
    int64_t n{0}, start{0};        // Discrete
    std::vector<int64_t> nvec;     // MultiDiscrete (flattened; shape holds its shape)
    std::vector<std::pair<std::string, Space>> children; // Dict, in declaration order

    size_t NumElements() const
    {
        size_t count = 1;
        for (auto d : shape)
        {
            count *= static_cast<size_t>(d);
        }
        return count;
    }
};

inline Space
Box(std::vector<int64_t> shape, std::vector<double> low, std::vector<double> high,
    Dtype dtype = Dtype::kFloat32)
{
    Space s;
    s.kind = Space::Kind::kBox;
    s.shape = std::move(shape);
    s.dtype = dtype;
    size_t count = s.NumElements();
    if ((low.size() != 1 && low.size() != count) || (high.size() != 1 && high.size() != count))
    {
        throw std::invalid_argument("Box: low/high must hold 1 value or one per element");
    }
    s.low = std::move(low);
    s.high = std::move(high);
    return s;
}

inline Space
Box(std::vector<int64_t> shape, double low, double high, Dtype dtype = Dtype::kFloat32)
{
    return Box(std::move(shape), std::vector<double>{low}, std::vector<double>{high}, dtype);
}

inline Space
Discrete(int64_t n, int64_t start = 0)
{
    if (n <= 0)
    {
        throw std::invalid_argument("Discrete: n must be positive");
    }
    Space s;
    s.kind = Space::Kind::kDiscrete;
    s.dtype = Dtype::kInt64;
    s.n = n;
    s.start = start;
    return s;
}

inline Space
MultiDiscrete(std::vector<int64_t> nvec, std::vector<int64_t> shape = {})
{
    Space s;
    s.kind = Space::Kind::kMultiDiscrete;
    s.dtype = Dtype::kInt64;
    s.shape = shape.empty() ? std::vector<int64_t>{static_cast<int64_t>(nvec.size())} : shape;
    if (s.NumElements() != nvec.size())
    {
        throw std::invalid_argument("MultiDiscrete: shape does not match nvec");
    }
    for (auto v : nvec)
    {
        if (v <= 0)
        {
            throw std::invalid_argument("MultiDiscrete: every nvec entry must be positive");
        }
    }
    s.nvec = std::move(nvec);
    return s;
}

inline Space
MultiBinary(std::vector<int64_t> shape)
{
    Space s;
    s.kind = Space::Kind::kMultiBinary;
    s.dtype = Dtype::kInt8;
    s.shape = std::move(shape);
    return s;
}

inline Space
Dict(std::vector<std::pair<std::string, Space>> children)
{
    Space s;
    s.kind = Space::Kind::kDict;
    s.children = std::move(children);
    return s;
}

/**
 * A typed view over one space's data in the segment (zero copy). Leaves hold an array; Dict views hold
 * named children. Write observations through it in GetObservation(), read actions in ExecuteActions().
 */
class DataView
{
  public:
    DataView() = default;

    bool IsDict() const
    {
        return m_isDict;
    }

    Dtype GetDtype() const
    {
        return m_dtype;
    }

    const std::vector<int64_t>& GetShape() const
    {
        return m_shape;
    }

    size_t Size() const
    {
        return m_count;
    }

    /** Pointer to the leaf's elements; T must match the declared dtype. */
    template <class T>
    T* Data() const
    {
        if (m_isDict)
        {
            throw std::logic_error("DataView: Data() called on a Dict view; index it by key first");
        }
        if (DtypeOf<T>() != m_dtype)
        {
            throw std::logic_error(std::string("DataView: element type does not match dtype ") +
                                   DtypeName(m_dtype));
        }
        return static_cast<T*>(m_data);
    }

    /** Untyped pointer to a leaf's elements and their size in bytes (for memcpy and friends). */
    void* RawData() const
    {
        if (m_isDict)
        {
            throw std::logic_error("DataView: RawData() called on a Dict view");
        }
        return m_data;
    }

    size_t Bytes() const
    {
        return m_count * DtypeSize(m_dtype);
    }

    /** Calls f(path, leaf) for every leaf, in declaration order; path joins Dict keys with '/'. */
    template <class F>
    void ForEachLeaf(F&& f, const std::string& path = "") const
    {
        if (!m_isDict)
        {
            f(path, *this);
            return;
        }
        for (const auto& [name, child] : m_children)
        {
            child.ForEachLeaf(f, path.empty() ? name : path + "/" + name);
        }
    }

    /** Element i (flat, row-major). */
    template <class T>
    T& At(size_t i) const
    {
        if (i >= m_count)
        {
            throw std::out_of_range("DataView: index out of range");
        }
        return Data<T>()[i];
    }

    /** The value of a Discrete leaf. */
    int64_t GetDiscrete() const
    {
        return At<int64_t>(0);
    }

    void SetDiscrete(int64_t v) const
    {
        At<int64_t>(0) = v;
    }

    /** Child of a Dict view. */
    const DataView& operator[](const std::string& key) const
    {
        for (const auto& [name, child] : m_children)
        {
            if (name == key)
            {
                return child;
            }
        }
        throw std::out_of_range("DataView: no key '" + key + "'");
    }

  private:
    friend class Bridge;
    bool m_isDict{false};
    void* m_data{nullptr};
    Dtype m_dtype{Dtype::kFloat32};
    std::vector<int64_t> m_shape;
    size_t m_count{0};
    std::vector<std::pair<std::string, DataView>> m_children;
};

} // namespace ns6g
