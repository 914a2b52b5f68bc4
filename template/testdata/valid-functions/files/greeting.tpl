Hello, ${name}!%{ for n in items } ${n}%{ endfor }
