// Typed tools: register a tool from a C++ callable. The parameter struct
// (Boost.Describe) gives the input JSON Schema (2020-12) and the conversion of
// the validated arguments; a described struct return value gives
// structuredContent, an outputSchema and a text mirror. Accepted callables:
//   R f()   R f(context&)   R f(const Args&)   R f(context&, const Args&)
// (or Args by value: the converted arguments are then moved in)
// with R one of: tool_result, std::string, a described struct,
// boost::json::value/object, an arithmetic type, or void.
// Thread-safety: as plexus::server::server (registration is thread-safe).
#pragma once

#include "plexus/json/convert.hpp"
#include "plexus/schema/derive.hpp"
#include "plexus/server/server.hpp"

#include <tuple>
#include <type_traits>

namespace plexus::server {

struct tool_options {
  std::optional<std::string> title;
  std::optional<protocol::tool_annotations> annotations;
  // Descriptions and constraints for parameters, by property path ("days", "address/city").
  schema::annotations fields;
  std::vector<protocol::icon> icons;
  // tool_dispatch::direct for a handler that neither blocks nor runs long (see server.hpp).
  tool_dispatch dispatch = tool_dispatch::pool;
};

namespace detail {

template <class T>
struct callable_traits : callable_traits<decltype(&std::remove_cvref_t<T>::operator())> {};
template <class C, class R, class... A>
struct callable_traits<R (C::*)(A...) const> {
  using result = R;
  using args = std::tuple<A...>;
};
template <class C, class R, class... A>
struct callable_traits<R (C::*)(A...)> : callable_traits<R (C::*)(A...) const> {};
template <class R, class... A>
struct callable_traits<R (*)(A...)> {
  using result = R;
  using args = std::tuple<A...>;
};
template <class R, class... A>
struct callable_traits<R(A...)> : callable_traits<R (*)(A...)> {};

template <class Tuple>
struct params_type {
  using type = void;
};
template <class A>
struct params_type<std::tuple<A>> {
  using type = std::conditional_t<std::is_same_v<std::remove_cvref_t<A>, context>, void,
                                  std::remove_cvref_t<A>>;
};
template <class C, class A>
struct params_type<std::tuple<C, A>> {
  using type = std::remove_cvref_t<A>;
};

template <class Tuple>
inline constexpr bool takes_context = false;
template <class A, class... Rest>
inline constexpr bool takes_context<std::tuple<A, Rest...>> =
    std::is_same_v<std::remove_cvref_t<A>, context>;

// A parameter declared as a non-const lvalue reference cannot take a moved value.
template <class A>
inline constexpr bool takes_by_lvalue =
    std::is_lvalue_reference_v<A> && !std::is_const_v<std::remove_reference_t<A>>;

// The arguments converted to P: a described struct is read from them in place.
template <class P>
plexus::expected<P, json::conversion_error> read_arguments(const json::object& arguments) {
  if constexpr (boost::describe::has_describe_members<P>::value)
    return json::from_json<P>(arguments);
  else
    return json::from_json<P>(json::value(arguments));
}

// Non-template pieces (src/server/typed_tool.cpp).
json::object empty_input_schema();
tool_result text_result_of(const json::value& v);
tool_result structured_result_of(json::value v);
tool_result invalid_arguments(const std::string& tool, const json::conversion_error& e);

template <class R>
tool_result to_tool_result(R&& r) {
  using T = std::remove_cvref_t<R>;
  if constexpr (std::is_same_v<T, tool_result>)
    return std::forward<R>(r);
  else if constexpr (std::is_same_v<T, std::string>)
    return tool_result::text(std::forward<R>(r));  // a returned string is moved, not copied
  else if constexpr (std::is_convertible_v<T, std::string_view>)
    return tool_result::text(std::string(std::string_view(r)));
  else if constexpr (boost::describe::has_describe_members<T>::value)
    return structured_result_of(json::to_json(r));
  else if constexpr (std::is_same_v<T, json::value> || std::is_same_v<T, json::object>)
    return structured_result_of(json::value(std::forward<R>(r)));
  else
    return text_result_of(json::to_json(r));
}

}  // namespace detail

template <class F>
void add_tool(server& srv, std::string name, std::string description, F f,
              tool_options options = {}) {
  using traits = detail::callable_traits<F>;
  using args_tuple = typename traits::args;
  using Params = typename detail::params_type<args_tuple>::type;
  using R = typename traits::result;
  constexpr bool with_ctx = detail::takes_context<args_tuple>;

  protocol::tool def;
  def.name = name;
  def.description = std::move(description);
  def.title = std::move(options.title);
  def.annotations = std::move(options.annotations);
  def.icons = std::move(options.icons);
  if constexpr (std::is_void_v<Params>)
    def.input_schema = detail::empty_input_schema();
  else
    def.input_schema = schema::derive<Params>(options.fields);
  if constexpr (boost::describe::has_describe_members<std::remove_cvref_t<R>>::value)
    def.output_schema = json::value(schema::derive<std::remove_cvref_t<R>>());

  srv.add_tool(
      std::move(def),
      [f = std::move(f), name](context& ctx, const json::object& arguments) -> tool_result {
        auto invoke = [&](auto&&... a) -> tool_result {
          if constexpr (std::is_void_v<R>) {
            f(std::forward<decltype(a)>(a)...);
            return tool_result{};
          } else {
            return detail::to_tool_result(f(std::forward<decltype(a)>(a)...));
          }
        };
        if constexpr (std::is_void_v<Params>) {
          if constexpr (with_ctx)
            return invoke(ctx);
          else
            return invoke();
        } else {
          auto params = detail::read_arguments<Params>(arguments);
          if (!params) return detail::invalid_arguments(name, params.error());
          // Moved into a callable that takes them by value (it may keep or return their
          // strings without a copy); a non-const reference gets them as they are.
          using declared = std::tuple_element_t<with_ctx ? 1 : 0, args_tuple>;
          auto&& a = [&]() -> decltype(auto) {
            if constexpr (detail::takes_by_lvalue<declared>)
              return (*params);
            else
              return std::move(*params);
          }();
          if constexpr (with_ctx)
            return invoke(ctx, std::forward<decltype(a)>(a));
          else
            return invoke(std::forward<decltype(a)>(a));
        }
      },
      options.dispatch);
}

}  // namespace plexus::server
