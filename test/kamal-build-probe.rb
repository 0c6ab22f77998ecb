# Loaded into the real Kamal by test/delivery-build.spec.ts (RUBYOPT=-r<this file>): when `kamal
# config` exits, prints the `docker buildx build` command Kamal would run for `kamal build push`,
# as one line marked KAMAL-BUILD. Nothing is built.
at_exit do
  next unless defined?(KAMAL) && KAMAL.instance_variable_get(:@config)

  puts "KAMAL-BUILD " + KAMAL.builder.push.flatten.compact.join(" ")
end
